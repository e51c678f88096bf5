#include "python/to_ivalue.h"

#include <torch/extension.h>

#include <string>
#include <vector>

#include "vidinfer/error.h"

namespace py = pybind11;

namespace vidinfer::python {
namespace {

[[noreturn]] void refuse(py::handle obj, const std::string& where) {
  throw Error("its output is not tensors, or tuples, lists or dicts of them (" + where + "a " +
              std::string(py::str(obj.get_type().attr("__name__"))) + ")");
}

c10::IValue convert(py::handle obj, const std::string& where, int depth) {
  if (depth > 32) throw Error("its output is nested more than 32 deep");
  if (THPVariable_Check(obj.ptr())) return THPVariable_Unpack(obj.ptr());
  if (obj.is_none()) return c10::IValue();
  if (py::isinstance<py::bool_>(obj)) return c10::IValue(obj.cast<bool>());
  if (py::isinstance<py::int_>(obj)) return c10::IValue(obj.cast<int64_t>());
  if (py::isinstance<py::float_>(obj)) return c10::IValue(obj.cast<double>());
  if (py::isinstance<py::str>(obj)) return c10::IValue(obj.cast<std::string>());
  if (py::isinstance<py::tuple>(obj)) {
    std::vector<c10::IValue> items;
    size_t i = 0;
    for (auto item : obj.cast<py::tuple>())
      items.push_back(convert(item, where + "item " + std::to_string(i++) + " of a tuple is ", depth + 1));
    return c10::ivalue::Tuple::create(std::move(items));
  }
  if (py::isinstance<py::list>(obj)) {
    c10::impl::GenericList list(c10::AnyType::get());
    size_t i = 0;
    for (auto item : obj.cast<py::list>())
      list.push_back(convert(item, where + "item " + std::to_string(i++) + " of a list is ", depth + 1));
    return list;
  }
  if (py::isinstance<py::dict>(obj)) {
    const auto d = obj.cast<py::dict>();
    bool all_str = true, all_int = true;
    for (auto kv : d) {
      all_str = all_str && py::isinstance<py::str>(kv.first);
      all_int = all_int && py::isinstance<py::int_>(kv.first) && !py::isinstance<py::bool_>(kv.first);
    }
    if (!all_str && !all_int) throw Error("its output is a dict whose keys are not all strings or all ints");
    const c10::TypePtr key_type = all_str ? c10::TypePtr(c10::StringType::get()) : c10::TypePtr(c10::IntType::get());
    c10::impl::GenericDict dict(key_type, c10::AnyType::get());
    for (auto kv : d) {
      const std::string key = py::str(kv.first);
      c10::IValue k = all_str ? c10::IValue(kv.first.cast<std::string>()) : c10::IValue(kv.first.cast<int64_t>());
      dict.insert_or_assign(std::move(k), convert(kv.second, where + "the value of '" + key + "' is ", depth + 1));
    }
    return dict;
  }
  refuse(obj, where);
}

}  // namespace

c10::IValue to_ivalue(py::handle obj) { return convert(obj, "", 0); }

}  // namespace vidinfer::python
