#include "mr/base/demangle.h"

#include <cxxabi.h>

#include <cstdlib>

namespace mr {

std::string demangle(const char* mangled) {
  int status = 0;
  char* s = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  if (status != 0 || !s) return mangled;
  std::string out(s);
  std::free(s);
  return out;
}

}  // namespace mr
