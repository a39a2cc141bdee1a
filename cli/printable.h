// printable(): a message made safe for a terminal, in the spirit of
// coreutils' quotearg: bytes that a terminal would act on (C0 controls,
// DEL, C1 controls U+0080..U+009F) and bytes that are not valid UTF-8 are
// written as C escapes ("\033", "\n", "\x9b"); valid printable UTF-8 is
// kept, so names in any script still read as they are. A backslash stays
// a backslash.
//
//   printable("cannot open 'a\x1b[2Jb'")  ->  "cannot open 'a\033[2Jb'"
#pragma once

#include <string>
#include <string_view>

namespace mr::cli {

std::string printable(std::string_view text);

}  // namespace mr::cli
