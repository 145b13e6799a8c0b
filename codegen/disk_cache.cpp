#include "codegen/disk_cache.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace kiln::codegen {

// ---------------------------------------------------------------- hashing

namespace {

constexpr std::uint64_t kP1 = 0x9E3779B97F4A7C15ull, kP2 = 0xC2B2AE3D27D4EB4Full, kP3 = 0x165667B19E3779F9ull,
                        kP4 = 0xD6E8FEB86659FD93ull;

std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// A bijective 64-bit mixer (splitmix64's finaliser): every input bit
// affects every output bit.
std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

}  // namespace

std::string Hash128::hex() const {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return buf;
}

Hasher::Hasher() : a_(kP1), b_(kP3) {}

// Each 8-byte word goes into both lanes through different bijections, so
// the lanes are two different hashes of the same stream.
void Hasher::mix_block(const unsigned char* p, std::size_t n) {
  auto word = [&](std::uint64_t w) {
    a_ = rotl(a_ ^ mix64(w), 29) * kP2;
    b_ = rotl(b_ + mix64(w ^ kP4), 37) * kP1 + kP3;
  };
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    word(w);
  }
  if (i < n) {  // the tail, zero-padded (fields are length-prefixed, so padding is unambiguous)
    std::uint64_t w = 0;
    std::memcpy(&w, p + i, n - i);
    word(w);
  }
  total_ += n;
}

Hasher& Hasher::add(std::uint64_t v) {
  unsigned char buf[8];
  std::memcpy(buf, &v, 8);
  mix_block(buf, 8);
  return *this;
}

Hasher& Hasher::add(std::string_view bytes) {
  add(static_cast<std::uint64_t>(bytes.size()));
  mix_block(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return *this;
}

Hash128 Hasher::finish() const {
  std::uint64_t a = a_ ^ total_, b = b_ ^ (total_ * kP4);
  Hash128 h;
  h.lo = mix64(a + rotl(b, 17));
  h.hi = mix64(b ^ rotl(a, 41) ^ kP2);
  return h;
}

Hash128 hash_bytes(std::string_view bytes) { return Hasher().add(bytes).finish(); }

// ---------------------------------------------------------------- directory

std::string cache_directory_from_environment() {
  if (const char* d = std::getenv("KILN_CACHE_DIR")) {
    std::string s = d;
    return s == "off" ? std::string() : s;
  }
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && xdg[0] == '/') return std::string(xdg) + "/kiln";  // the XDG spec ignores relative paths
  const char* home = std::getenv("HOME");
  if (home && home[0]) return std::string(home) + "/.cache/kiln";
  return {};
}

// ---------------------------------------------------------------- entries

namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'K', 'C', '\0', '\1'};
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::size_t kHeaderSize = 64;
constexpr std::uint64_t kMaxPayload = 1ull << 30;  // a bigger "entry" is garbage, not a kernel
constexpr const char* kSuffix = ".kc";
constexpr const char* kTempPrefix = ".tmp-";

// The header's fields at fixed offsets (host byte order).
struct Header {
  std::uint32_t version = kFormatVersion, header_size = kHeaderSize;
  std::uint64_t payload_size = 0;
  Hash128 key, sum;
};

std::string encode(const Header& h) {
  std::string s(kHeaderSize, '\0');
  char* p = s.data();
  std::memcpy(p, kMagic, 8);
  std::memcpy(p + 8, &h.version, 4);
  std::memcpy(p + 12, &h.header_size, 4);
  std::memcpy(p + 16, &h.payload_size, 8);
  std::memcpy(p + 24, &h.key.lo, 8);
  std::memcpy(p + 32, &h.key.hi, 8);
  std::memcpy(p + 40, &h.sum.lo, 8);
  std::memcpy(p + 48, &h.sum.hi, 8);
  return s;  // bytes 56..63 reserved (zero)
}

bool decode(const char* p, Header* h) {
  if (std::memcmp(p, kMagic, 8) != 0) return false;
  std::memcpy(&h->version, p + 8, 4);
  std::memcpy(&h->header_size, p + 12, 4);
  std::memcpy(&h->payload_size, p + 16, 8);
  std::memcpy(&h->key.lo, p + 24, 8);
  std::memcpy(&h->key.hi, p + 32, 8);
  std::memcpy(&h->sum.lo, p + 40, 8);
  std::memcpy(&h->sum.hi, p + 48, 8);
  return h->version == kFormatVersion && h->header_size == kHeaderSize;
}

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool read_all(int fd, char* p, std::size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "<32 hex>.kc": the only names trim() deletes besides temporaries.
bool is_entry_name(const std::string& name) {
  if (name.size() != 32 + std::strlen(kSuffix) || !ends_with(name, kSuffix)) return false;
  return std::all_of(name.begin(), name.begin() + 32,
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

DiskCache::DiskCache(std::string directory, std::uint64_t max_bytes)
    : dir_(std::move(directory)), max_bytes_(max_bytes) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
}

std::string DiskCache::path_of(const Hash128& key) const { return dir_ + "/" + key.hex() + kSuffix; }

DiskCache::Status DiskCache::load(const Hash128& key, std::string* payload) const {
  payload->clear();
  if (!enabled()) return Status::Miss;
  const std::string path = path_of(key);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? Status::Miss : Status::Corrupt;
  Status st = Status::Corrupt;
  struct stat sb;
  char hb[kHeaderSize];
  Header h;
  if (::fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && static_cast<std::uint64_t>(sb.st_size) >= kHeaderSize &&
      read_all(fd, hb, kHeaderSize) && decode(hb, &h) && h.key == key && h.payload_size <= kMaxPayload &&
      static_cast<std::uint64_t>(sb.st_size) == kHeaderSize + h.payload_size) {
    payload->resize(h.payload_size);
    if (read_all(fd, payload->data(), payload->size()) && hash_bytes(*payload) == h.sum) st = Status::Hit;
  }
  ::close(fd);
  if (st != Status::Hit) {
    payload->clear();
    payload->shrink_to_fit();
  } else {
    // Refresh the modification time: trim() evicts the least recently used.
    // Best effort (a read-only cache still serves hits).
    ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);
  }
  return st;
}

bool DiskCache::store(const Hash128& key, std::string_view payload) const {
  if (!enabled() || payload.size() > kMaxPayload) return false;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);  // "mkdir -p"; failure shows up at open()

  // A name no other writer (thread or process) uses: pid + a process-wide
  // counter + the clock; O_EXCL makes a clash an error, never a shared file.
  static std::atomic<std::uint64_t> counter{0};
  const std::uint64_t now = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 4 && fd < 0; ++attempt) {
    tmp = dir_ + "/" + kTempPrefix + key.hex() + "-" + std::to_string(::getpid()) + "-" +
          std::to_string(counter.fetch_add(1)) + "-" + std::to_string(now % 1000000007u);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) return false;  // unwritable or missing directory: skip caching
  }
  if (fd < 0) return false;

  Header h;
  h.payload_size = payload.size();
  h.key = key;
  h.sum = hash_bytes(payload);
  const std::string head = encode(h);
  bool ok = write_all(fd, head.data(), head.size()) && write_all(fd, payload.data(), payload.size());
  ok = (::close(fd) == 0) && ok;
  // No fsync: after a power loss a renamed entry may read back short or
  // zeroed, which the size and hash checks turn into a recompile.
  if (ok) ok = ::rename(tmp.c_str(), path_of(key).c_str()) == 0;
  if (!ok) {
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

void DiskCache::remove(const Hash128& key) const {
  if (enabled()) ::unlink(path_of(key).c_str());
}

void DiskCache::trim() const {
  if (!enabled()) return;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return;
  struct Entry {
    std::string path;
    std::uint64_t size;
    std::int64_t mtime_ns;
  };
  std::vector<Entry> entries;
  std::uint64_t total = 0;
  const std::int64_t now_s = static_cast<std::int64_t>(::time(nullptr));
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    const bool entry = is_entry_name(name), temp = name.rfind(kTempPrefix, 0) == 0;
    if (!entry && !temp) continue;
    const std::string path = dir_ + "/" + name;
    struct stat sb;
    if (::lstat(path.c_str(), &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    if (temp) {
      if (now_s - sb.st_mtim.tv_sec > 3600) ::unlink(path.c_str());  // left by a writer that died
      continue;
    }
    entries.push_back({path, static_cast<std::uint64_t>(sb.st_size),
                       static_cast<std::int64_t>(sb.st_mtim.tv_sec) * 1000000000 + sb.st_mtim.tv_nsec});
    total += static_cast<std::uint64_t>(sb.st_size);
  }
  ::closedir(d);
  if (total <= max_bytes_) return;
  // Oldest first, down to 3/4 of the limit so the next stores do not each
  // evict again.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.mtime_ns < b.mtime_ns; });
  const std::uint64_t target = max_bytes_ / 4 * 3;
  for (const Entry& e : entries) {
    if (total <= target) break;
    if (::unlink(e.path.c_str()) == 0 || errno == ENOENT) total -= std::min(total, e.size);
  }
}

}  // namespace kiln::codegen
