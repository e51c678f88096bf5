// The process readings behind Sampler (bench/sampler.h): resident memory and CPU time.
#include "bench/sampler.h"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

namespace vidinfer::bench {

double rss_mib_now() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
}

}  // namespace vidinfer::bench
