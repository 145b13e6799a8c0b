// A small on-disk key → bytes store, used for compiled kernel objects
// (codegen/kernel_cache.cpp) but knowing nothing about them.
//
// One file per key, `<directory>/<32 hex digits of the key>.kc`:
//   header (64 bytes, host byte order: the cache is per machine)
//     magic "KILNKC\0\1", format version, header size, payload size,
//     the key, a 128-bit hash of the payload
//   payload
// Writes go to a unique temporary file in the same directory which is then
// renamed over the final name (atomic on POSIX file systems), so a reader
// sees either no entry or a whole one, and two processes storing the same key
// at once both succeed (the last rename wins; both wrote the same bytes).
// A file that is too short, has the wrong magic/version/key/size or whose
// payload does not match its hash reads as Corrupt; the caller recomputes and
// stores again, which replaces it. Nothing here throws or crashes on a bad
// directory or file: failures read as a miss and writes are skipped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::codegen {

// A 128-bit content hash: two independently seeded 64-bit lanes over the
// same bytes. Not cryptographic: it tells apart kernels and detects torn or
// flipped bytes, it does not defend against a crafted collision (whoever can
// write the cache directory can already run code as the user).
struct Hash128 {
  std::uint64_t lo = 0, hi = 0;
  bool operator==(const Hash128&) const = default;
  std::string hex() const;  // 32 lowercase hex digits, hi first
};

// Hashes a sequence of fields. Each field is length-prefixed, so
// ("ab", "c") and ("a", "bc") hash differently.
class Hasher {
 public:
  Hasher();
  Hasher& add(std::string_view bytes);
  Hasher& add(std::uint64_t v);
  Hash128 finish() const;

 private:
  void mix_block(const unsigned char* p, std::size_t n);
  std::uint64_t a_, b_, total_ = 0;
};

// The hash of one byte string (one field).
Hash128 hash_bytes(std::string_view bytes);

// The kernel cache directory chosen by the environment, "" when disabled:
//   KILN_CACHE_DIR   set: that directory; "off" or "" disables the cache
//   XDG_CACHE_HOME   else, when set to an absolute path: $XDG_CACHE_HOME/kiln
//   HOME             else $HOME/.cache/kiln; with no HOME, disabled.
std::string cache_directory_from_environment();

class DiskCache {
 public:
  enum class Status { Hit, Miss, Corrupt };

  static constexpr std::uint64_t kDefaultMaxBytes = 256ull << 20;

  // `directory` "" disables the cache (loads miss, stores do nothing). The
  // directory is created (with its parents) on the first store.
  explicit DiskCache(std::string directory, std::uint64_t max_bytes = kDefaultMaxBytes);

  bool enabled() const { return !dir_.empty(); }
  const std::string& directory() const { return dir_; }
  // The file holding `key` (whether or not it exists).
  std::string path_of(const Hash128& key) const;

  // Reads the entry of `key` into *payload (Hit). Miss: no such file (or no
  // cache); Corrupt: a file that fails a check — *payload is cleared.
  Status load(const Hash128& key, std::string* payload) const;

  // Stores `payload` under `key`; false (and nothing under the final name
  // changed) when the directory cannot be created or written. Does not trim
  // (a directory scan): call trim() once after a batch of stores.
  bool store(const Hash128& key, std::string_view payload) const;

  // Deletes the entry of `key` if there is one.
  void remove(const Hash128& key) const;

  // Deletes the least recently used entries (by modification time; a hit
  // refreshes it) until the entries total at most max_bytes, and temporary
  // files a crashed writer left more than an hour ago. Only files named like
  // entries or temporaries are ever touched.
  void trim() const;

 private:
  std::string dir_;
  std::uint64_t max_bytes_;
};

}  // namespace kiln::codegen
