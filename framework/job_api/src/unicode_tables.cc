// Builds the tokenizer's two-stage Unicode tables from utf8proc, once.
#include <utf8proc.h>

#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "mr/job_api/utf8.h"

namespace mr {
namespace detail {
namespace {

bool is_cjk(char32_t cp) {
  return (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x3FFFF);
}

CharClass classify(char32_t cp) {
  if (is_cjk(cp)) return CharClass::cjk;
  if (cp == 0x27 || cp == 0x2019) return CharClass::apostrophe;
  if (cp >= 0xD800 && cp <= 0xDFFF) return CharClass::separator;  // never decoded anyway
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
      return CharClass::word;
    default:
      return CharClass::separator;
  }
}

struct Built {
  std::vector<std::uint16_t> stage1;
  std::vector<std::int32_t> stage2;
  UnicodeTables view;

  Built() {
    constexpr char32_t kCodePoints = 0x110000;
    constexpr std::size_t kBlock = std::size_t{1} << UnicodeTables::kBlockBits;
    stage1.resize(kCodePoints / kBlock);
    // Deduplicate identical blocks: most of the code space is unassigned or
    // uniform (CJK, Hangul, private use), so a few hundred blocks remain.
    std::unordered_map<std::string, std::uint16_t> seen;
    std::vector<std::int32_t> block(kBlock);
    for (std::size_t b = 0; b < stage1.size(); ++b) {
      for (std::size_t i = 0; i < kBlock; ++i) {
        const auto cp = static_cast<char32_t>(b * kBlock + i);
        std::int32_t delta = 0;
        if (cp < 0xD800 || cp > 0xDFFF) {
          delta = utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)) - static_cast<std::int32_t>(cp);
        }
        block[i] = static_cast<std::int32_t>(static_cast<std::uint32_t>(delta) << 8) |
                   static_cast<std::int32_t>(classify(cp));
      }
      std::string key(reinterpret_cast<const char*>(block.data()), kBlock * sizeof(std::int32_t));
      auto [it, inserted] = seen.try_emplace(std::move(key), static_cast<std::uint16_t>(seen.size()));
      if (inserted) stage2.insert(stage2.end(), block.begin(), block.end());
      stage1[b] = it->second;
    }
    view.stage1 = stage1.data();
    view.stage2 = stage2.data();
    view.unique_blocks = seen.size();
  }
};

}  // namespace

const UnicodeTables& unicode_tables() {
  static const Built built;
  return built.view;
}

}  // namespace detail

void warm_up_unicode_tables() { (void)detail::unicode_tables(); }

}  // namespace mr
