#include "decompressor.h"

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <vector>

#include "mr/mapreduce/input.h"

namespace mr::detail {
namespace {

bool starts_with(std::string_view head, std::string_view magic) {
  return head.size() >= magic.size() && head.substr(0, magic.size()) == magic;
}

// gzip through zlib rather than libarchive's gzip filter, which checks neither
// a member's CRC-32 nor its length (corrupt data would be counted silently).
// Members in a row are one stream; bytes after the last member that do not
// start another one are corrupt data, as are a bad CRC or a cut member.
class Gunzip {
 public:
  using Fail = std::function<void(const std::string&)>;  // must throw
  Gunzip(const Decompressor::RawReader& read_raw, Fail fail)
      : read_raw_(read_raw), fail_(std::move(fail)) {
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) throw std::bad_alloc();  // gzip wrapper only
  }
  ~Gunzip() { inflateEnd(&z_); }
  Gunzip(const Gunzip&) = delete;
  Gunzip& operator=(const Gunzip&) = delete;

  std::size_t read(char* out, std::size_t n) {
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = static_cast<uInt>(std::min<std::size_t>(n, UINT32_MAX));
    const uInt room = z_.avail_out;
    while (z_.avail_out == room) {
      if (z_.avail_in == 0) {
        std::size_t got = eof_ ? 0 : read_raw_(in_.data(), in_.size());
        if (got == 0) {
          eof_ = true;
          if (in_member_) fail_("truncated gzip data");
          return 0;
        }
        z_.next_in = reinterpret_cast<Bytef*>(in_.data());
        z_.avail_in = static_cast<uInt>(got);
      }
      if (!in_member_ && members_ > 0 && z_.next_in[0] != 0x1f)
        fail_("unexpected bytes after the gzip data");
      in_member_ = true;
      int r = inflate(&z_, Z_NO_FLUSH);
      if (r == Z_STREAM_END) {  // CRC and length checked; another member may follow
        in_member_ = false;
        ++members_;
        inflateReset(&z_);
      } else if (r != Z_OK && r != Z_BUF_ERROR) {
        fail_(z_.msg ? z_.msg : "corrupt gzip data");
      }
    }
    return room - z_.avail_out;
  }

 private:
  const Decompressor::RawReader& read_raw_;
  Fail fail_;
  z_stream z_{};
  std::vector<char> in_ = std::vector<char>(std::size_t{1} << 17);
  bool in_member_ = false;  // inside a member: the input must not end here
  std::uint64_t members_ = 0;
  bool eof_ = false;
};

}  // namespace

Compression sniff_compression(std::string_view head) noexcept {
  using namespace std::string_view_literals;
  if (starts_with(head, "\x1f\x8b\x08"sv)) return Compression::kGzip;            // deflate members
  if (starts_with(head, "\xfd\x37\x7a\x58\x5a\x00"sv)) return Compression::kXz;  // \xfd "7zXZ" \0
  // "BZh" and a block size digit, then the magic of a first block or of the
  // end of an empty stream: six bytes more than text could plausibly hold.
  if (head.size() >= 10 && starts_with(head, "BZh"sv) && head[3] >= '1' && head[3] <= '9' &&
      (head.substr(4, 6) == "\x31\x41\x59\x26\x53\x59"sv ||
       head.substr(4, 6) == "\x17\x72\x45\x38\x50\x90"sv))
    return Compression::kBzip2;
  if (starts_with(head, "\x04\x22\x4d\x18"sv) || starts_with(head, "\x02\x21\x4c\x18"sv))
    return Compression::kLz4;  // frame format, legacy format
  if (starts_with(head, "\x28\xb5\x2f\xfd"sv)) return Compression::kZstd;
  return Compression::kNone;
}

const char* compression_name(Compression c) noexcept {
  switch (c) {
    case Compression::kGzip:
      return "gzip";
    case Compression::kXz:
      return "xz";
    case Compression::kBzip2:
      return "bzip2";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
    case Compression::kNone:
      break;
  }
  return "none";
}

struct Decompressor::State {
  std::string name;
  Compression format;
  RawReader read_raw;
  archive* a = nullptr;
  std::unique_ptr<Gunzip> gunzip;  // gzip: decompressed here, libarchive reads the result
  std::vector<char> raw = std::vector<char>(std::size_t{1} << 17);
  std::exception_ptr raw_error;  // what read_raw threw, rethrown by read()
  bool opened = false;
  bool in_member = false;
  bool done = false;
  bool separate = false;  // the last member did not end in a line break

  // libarchive's source callback: never lets an exception into C code.
  static la_ssize_t source(archive* a, void* self, const void** buffer) {
    auto* s = static_cast<State*>(self);
    try {
      std::size_t got = s->gunzip ? s->gunzip->read(s->raw.data(), s->raw.size())
                                  : s->read_raw(s->raw.data(), s->raw.size());
      *buffer = s->raw.data();
      return static_cast<la_ssize_t>(got);
    } catch (...) {
      s->raw_error = std::current_exception();
      archive_set_error(a, EIO, "read failed");
      return -1;
    }
  }

  [[noreturn]] void fail() {
    if (raw_error) std::rethrow_exception(raw_error);
    const char* why = archive_error_string(a);
    fail(why ? why : "corrupt or truncated data");
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw InputError("cannot decompress '" + name + "' (" + compression_name(format) + "): " + why);
  }

  void open() {
    opened = true;
    switch (format) {
      case Compression::kGzip:
        gunzip = std::make_unique<Gunzip>(read_raw, [this](const std::string& why) { fail(why); });
        break;
      case Compression::kXz:
        archive_read_support_filter_xz(a);
        break;
      case Compression::kBzip2:
        archive_read_support_filter_bzip2(a);
        break;
      case Compression::kLz4:
        archive_read_support_filter_lz4(a);
        break;
      case Compression::kZstd:
        archive_read_support_filter_zstd(a);
        break;
      case Compression::kNone:
        break;
    }
    // What the decompressed bytes hold: a tar archive (its members are read),
    // nothing at all, or anything else, read as it is.
    archive_read_support_format_tar(a);
    archive_read_support_format_empty(a);
    archive_read_support_format_raw(a);
    if (archive_read_open(a, this, nullptr, &State::source, nullptr) != ARCHIVE_OK) fail();
  }

  // Moves to the next member; false at the end of the input.
  bool next_member() {
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(a, &entry);
    if (r == ARCHIVE_EOF) return false;
    if (r < ARCHIVE_WARN) fail();
    in_member = true;
    return true;
  }
};

Decompressor::Decompressor(std::string name, Compression format, RawReader read_raw)
    : state_(std::make_unique<State>()) {
  state_->name = std::move(name);
  state_->format = format;
  state_->read_raw = std::move(read_raw);
  state_->a = archive_read_new();
  if (!state_->a) throw std::bad_alloc();
}

Decompressor::~Decompressor() { archive_read_free(state_->a); }

std::size_t Decompressor::read(char* buffer, std::size_t n) {
  State& s = *state_;
  if (s.done || n == 0) return 0;
  if (!s.opened) s.open();
  for (;;) {
    std::size_t lead = 0;
    if (!s.in_member) {
      if (!s.next_member()) {
        s.done = true;
        return 0;
      }
      if (s.separate) {  // between two members of an archive
        buffer[0] = '\n';
        lead = 1;
        s.separate = false;
        if (n == 1) return 1;
      }
    }
    la_ssize_t got = archive_read_data(s.a, buffer + lead, n - lead);
    if (got < 0) s.fail();
    if (got > 0) {
      s.separate = buffer[lead + static_cast<std::size_t>(got) - 1] != '\n';
      return lead + static_cast<std::size_t>(got);
    }
    s.in_member = false;  // this member is finished
    if (lead) return lead;
  }
}

}  // namespace mr::detail
