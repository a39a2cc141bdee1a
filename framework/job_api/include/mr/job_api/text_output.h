// Escaping for the structured output formats (`--format csv` and
// `--format json`) that every job's results can be written in.
//
//   std::string line;
//   mr::append_csv_field(line, "a,b");      // "a,b" quoted: "\"a,b\""
//   line += ',';
//   mr::append_json_string(line, "x\n");   // "\"x\\n\""
//
// Pure functions on strings: thread-safe and fork-safe.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "mr/job_api/utf8.h"

namespace mr {

// Appends `field` as one RFC 4180 CSV field: as it is, or, when it holds a
// comma, a double quote, CR or LF, in double quotes with each quote doubled.
inline void append_csv_field(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// Appends `text` as a JSON string literal, quotes included: `"` and `\`
// escaped, control characters as \n, \r, \t, \b, \f or \u00XX, valid UTF-8
// as it is, and each byte that begins no valid UTF-8 sequence (see
// mr::utf8) as U+FFFD, so the result is always valid UTF-8 and valid JSON.
inline void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (std::size_t pos = 0; pos < text.size();) {
    auto c = static_cast<unsigned char>(text[pos]);
    if (c >= 0x80) {
      utf8::CodePoint cp = utf8::decode_at(text, pos);
      if (cp.valid) {
        out.append(text.substr(pos, cp.length));
      } else {
        out += "\xEF\xBF\xBD";
      }
      pos += cp.length;
      continue;
    }
    ++pos;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace mr
