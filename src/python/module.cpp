// The Python module `vidinfer._vidinfer` (wrapped by python/vidinfer/__init__.py, which is the API
// users see): the GPU pipeline's batches and results as torch tensors and dicts, with a model given
// as a file or as any Python callable. pybind11, with LibTorch's tensor casters (torch/extension.h):
// the module links the LibTorch of the torch it is imported with (see __init__.py's version check).
#include <torch/extension.h>
#include <torch/version.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "infer/callable_model.h"
#include "python/options_from_python.h"
#include "python/run_stream.h"
#include "python/to_ivalue.h"
#include "vidinfer/error.h"
#include "vidinfer/json_lines.h"
#include "vidinfer/probe.h"

namespace py = pybind11;
using namespace vidinfer;

namespace {

// A Python callable kept by a model the pipeline owns on other threads: dropped with the GIL held.
struct PyCallable {
  py::object fn;
  std::string name;
  ~PyCallable() {
    py::gil_scoped_acquire gil;
    fn = py::object();
  }
};

std::string callable_name(const py::object& fn) {
  std::string r = py::str(py::repr(fn));
  if (r.size() > 80) r = r.substr(0, 77) + "...";
  return "python callable " + r;
}

// The model a Python callable makes: called on the run's thread with its batch (a view of a buffer
// the pipeline reuses: valid during the call only), on the run's current CUDA stream.
Extensions::ModelFactory callable_model(py::object fn, DType dtype) {
  auto h = std::shared_ptr<PyCallable>(new PyCallable{std::move(fn), ""});
  h->name = callable_name(h->fn);
  return [h, dtype](torch::Device device) -> std::unique_ptr<Model> {
    auto call = [h](const torch::Tensor& x) -> torch::jit::IValue {
      py::gil_scoped_acquire gil;
      std::string why;
      try {
        py::object out = h->fn(x);
        return python::to_ivalue(out);
      } catch (py::error_already_set& e) {
        why = e.what();
      } catch (const c10::Error& e) {
        why = "its output is not tensors, or tuples, lists or dicts of them (" +
              first_line(e.what_without_backtrace()) + ")";
      } catch (const std::exception& e) {
        why = e.what();
      }
      throw Error("model forward failed", h->name, first_line(why));
    };
    return std::make_unique<CallableModel>(call, h->name, device, dtype);
  };
}

py::object to_python(StreamItem& it) {
  switch (it.kind) {
    case StreamItem::Kind::Batch: {
      py::list inputs, frames, pts, sizes;
      for (const auto& r : it.rows) {
        inputs.append(r.input);
        frames.append(r.frame_index);
        pts.append(r.pts);
        sizes.append(py::make_tuple(r.width, r.height));
      }
      return py::make_tuple("batch", py::cast(it.tensor), inputs, frames, pts, sizes);
    }
    case StreamItem::Kind::Frame: return py::make_tuple("frame", it.text);
    case StreamItem::Kind::InputDone: return py::make_tuple("input", it.text, it.input_ok);
    case StreamItem::Kind::Summary: return py::make_tuple("summary", it.text);
    case StreamItem::Kind::Failure: return py::make_tuple("failure", it.text);
  }
  return py::none();
}

// One run, as the Python layer pulls it.
class PyRun {
 public:
  PyRun(std::vector<std::string> inputs, const py::dict& kw, py::object model, bool batches, bool uint8) {
    RunOptions opt = options_from_python(kw);
    Extensions ext;
    if (batches) {
      opt.skip_model = true;
      opt.model_path.clear();
    } else if (!model.is_none()) {
      opt.model_path = callable_name(model);
      ext.make_model = callable_model(std::move(model), opt.spec.dtype);
    } else if (opt.model_path.empty()) {
      throw Error("no model", "", "run() needs model=: a TorchScript file (.pt) or a Python callable");
    }
    RunStream::Options so;
    so.batches = batches;
    so.uint8 = uint8;
    py::gil_scoped_release release;  // the model loads (a callable's warm-up takes the GIL itself)
    stream_ = std::make_unique<RunStream>(std::move(opt), std::move(inputs), std::move(ext), so);
  }
  ~PyRun() { close(); }

  // The next item, or None at the end. Waits without the GIL, looking for Ctrl-C every 100 ms: it
  // stops the run (what is in flight finishes) and raises KeyboardInterrupt here.
  py::object next() {
    if (!stream_) return py::none();
    while (true) {
      bool done = false;
      std::optional<StreamItem> it;
      {
        py::gil_scoped_release release;
        it = stream_->next(std::chrono::milliseconds(100), &done);
      }
      if (it) return to_python(*it);
      if (done) return py::none();
      if (PyErr_CheckSignals() != 0) {
        stream_->cancel();
        throw py::error_already_set();
      }
    }
  }

  void cancel() {
    if (stream_) stream_->cancel();
  }
  // Stops the run if it is still going and frees it (joins its thread, without the GIL).
  void close() {
    if (!stream_) return;
    std::unique_ptr<RunStream> s = std::move(stream_);
    py::gil_scoped_release release;
    s.reset();
  }
  std::string device() const { return stream_ ? stream_->device() : ""; }

 private:
  std::unique_ptr<RunStream> stream_;
};

}  // namespace

PYBIND11_MODULE(_vidinfer, m) {
  m.doc() = "vidinfer's C++ core; use the vidinfer package, not this module";
  static py::exception<Error> error(m, "Error", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
#if PYBIND11_VERSION_HEX >= 0x020C0000
      py::set_error(error, e.what());
#else
      error(e.what());  // pybind11 before 2.12 (Debian 12's 2.10)
#endif
    }
  });
  m.attr("TORCH_VERSION") = TORCH_VERSION;
  m.def("probe_json", [](const std::string& path) {
    py::gil_scoped_release release;
    return probe_json(probe(path));
  });
  py::class_<PyRun>(m, "_Run")
      .def(py::init<std::vector<std::string>, const py::dict&, py::object, bool, bool>(), py::arg("inputs"),
           py::arg("options"), py::arg("model"), py::arg("batches"), py::arg("uint8"))
      .def("next", &PyRun::next)
      .def("cancel", &PyRun::cancel)
      .def("close", &PyRun::close)
      .def_property_readonly("device", &PyRun::device);
}
