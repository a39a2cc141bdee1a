// demangle(): a C++ type's readable name from its mangled one, for error
// messages ("std::out_of_range" from typeid(e).name()). Thread-safe; not
// async-signal-safe (it allocates).
#pragma once

#include <string>

namespace mr {

// The demangled form of `mangled` (a type_info name or another mangled
// name); `mangled` itself when it cannot be demangled.
std::string demangle(const char* mangled);

}  // namespace mr
