#include "ketasim/io/results_file.hpp"

#include <fcntl.h>
#include <hdf5_hl.h>
#include <libdeflate.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <filesystem>
#include <functional>
#include <future>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <signal.h>
#include <sys/stat.h>
#include <system_error>
#include <type_traits>

#include "ketasim/core/error.hpp"

namespace ketasim::io {
namespace {

// HDF5 prints its whole error stack to stderr by default, which buries the one line a user needs.
// Errors are switched off for the duration of each call into this writer (the setting is per thread
// in Debian's thread-safe build, so a global switch at start-up would not cover other threads) and
// the innermost HDF5 message is folded into the RuntimeFailure instead.
class QuietHdf5Errors {
 public:
  QuietHdf5Errors() {
    H5Eget_auto2(H5E_DEFAULT, &saved_function_, &saved_data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5Errors() { H5Eset_auto2(H5E_DEFAULT, saved_function_, saved_data_); }
  QuietHdf5Errors(const QuietHdf5Errors&) = delete;
  QuietHdf5Errors& operator=(const QuietHdf5Errors&) = delete;

 private:
  H5E_auto2_t saved_function_ = nullptr;
  void* saved_data_ = nullptr;
};

herr_t remember_innermost(unsigned depth, const H5E_error2_t* error, void* innermost) {
  // Walking upward, depth 0 is where HDF5 first noticed the problem (e.g. "No such file or directory").
  if (depth == 0 && error->desc != nullptr) *static_cast<std::string*>(innermost) = error->desc;
  return 0;
}

std::string take_hdf5_error() {
  std::string innermost;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, remember_innermost, &innermost);
  H5Eclear2(H5E_DEFAULT);
  // An I/O error's description is a multi-line dump ("time = ..., errno = 28, error message =
  // 'No space left on device', buf = 0x..."): keep what it says and the system's message.
  const auto quoted = innermost.find("error message = '");
  if (quoted != std::string::npos) {
    const auto start = quoted + 17;
    const auto end = innermost.find('\'', start);
    const auto comma = innermost.find(':');
    innermost = (comma != std::string::npos && comma < quoted ? innermost.substr(0, comma) + ": " : std::string()) +
                innermost.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }
  for (char& c : innermost) {
    if (c == '\n') c = ' ';
  }
  return innermost.empty() ? std::string() : " (HDF5: " + innermost + ")";
}

[[noreturn]] void fail(const std::string& message) { throw RuntimeFailure(message + take_hdf5_error()); }

hid_t check_id(hid_t id, const std::string& message) {
  if (id < 0) fail(message);
  return id;
}

void check_status(herr_t status, const std::string& message) {
  if (status < 0) fail(message);
}

Hdf5Handle make_plist(hid_t plist_class) { return {check_id(H5Pcreate(plist_class), "cannot create an HDF5 property list"), H5Pclose}; }

const char* type_name(ElementType type) {
  switch (type) {
    case ElementType::float32: return "float32";
    case ElementType::float64: return "float64";
    case ElementType::int8: return "int8";
    case ElementType::int32: return "int32";
    case ElementType::int64: return "int64";
  }
  return "unknown";
}

// Little-endian standard types on disk so that the file is identical whichever machine wrote it.
hid_t file_type(ElementType type) {
  switch (type) {
    case ElementType::float32: return H5T_IEEE_F32LE;
    case ElementType::float64: return H5T_IEEE_F64LE;
    case ElementType::int8: return H5T_STD_I8LE;
    case ElementType::int32: return H5T_STD_I32LE;
    case ElementType::int64: return H5T_STD_I64LE;
  }
  return H5I_INVALID_HID;
}

hid_t memory_type(ElementType type) {
  switch (type) {
    case ElementType::float32: return H5T_NATIVE_FLOAT;
    case ElementType::float64: return H5T_NATIVE_DOUBLE;
    case ElementType::int8: return H5T_NATIVE_INT8;
    case ElementType::int32: return H5T_NATIVE_INT32;
    case ElementType::int64: return H5T_NATIVE_INT64;
  }
  return H5I_INVALID_HID;
}

std::size_t element_bytes(ElementType type) {
  switch (type) {
    case ElementType::float32: return 4;
    case ElementType::float64: return 8;
    case ElementType::int8: return 1;
    case ElementType::int32: return 4;
    case ElementType::int64: return 8;
  }
  return 0;
}

Hdf5Handle utf8_string_type(std::size_t fixed_length_bytes) {
  Hdf5Handle type{check_id(H5Tcopy(H5T_C_S1), "cannot create a string type"), H5Tclose};
  check_status(H5Tset_size(type.get(), fixed_length_bytes == 0 ? H5T_VARIABLE : fixed_length_bytes),
               "cannot size a string type");
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), "cannot set UTF-8 on a string type");
  return type;
}

void delete_attribute_if_present(hid_t object, const std::string& name, const std::string& where) {
  const htri_t exists = H5Aexists(object, name.c_str());
  check_status(exists < 0 ? -1 : 0, where + ": cannot look up attribute '" + name + "'");
  if (exists > 0) check_status(H5Adelete(object, name.c_str()), where + ": cannot replace attribute '" + name + "'");
}

void write_attribute(hid_t object, const std::string& name, hid_t stored_type, hid_t in_memory_type,
                     const void* values, hsize_t count, bool scalar, const std::string& where) {
  delete_attribute_if_present(object, name, where);
  Hdf5Handle space{check_id(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, nullptr),
                            where + ": cannot create the dataspace of attribute '" + name + "'"),
                   H5Sclose};
  Hdf5Handle attribute{check_id(H5Acreate2(object, name.c_str(), stored_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                                where + ": cannot create attribute '" + name + "'"),
                       H5Aclose};
  check_status(H5Awrite(attribute.get(), in_memory_type, values), where + ": cannot write attribute '" + name + "'");
}

// Attributes that the netCDF User Guide and CF define as text. netCDF-C writes these with
// nc_put_att_text, i.e. as NC_CHAR, and CF tools that predate netCDF-4's NC_STRING (or only look
// for char attributes, e.g. to find `units`) expect that type.
bool is_cf_text_attribute(const std::string& name) {
  static const char* const names[] = {"units", "long_name", "standard_name", "flag_meanings", "Conventions",
                                      "title", "history", "institution", "source", "comment", "references",
                                      "calendar", "axis", "positive", "cell_methods", "coordinates"};
  return std::any_of(std::begin(names), std::end(names), [&](const char* n) { return name == n; });
}

// CF text attributes are written as netCDF-C writes NC_CHAR: a scalar fixed-length string of exactly
// the value's bytes (no terminator), or a null dataspace when empty. h5py returns these as bytes.
// Every other text attribute (config_yaml, command_line, ...) is a scalar variable-length UTF-8
// string: h5py returns it as str, netCDF-C reads it as NC_STRING, and config_yaml's size does not
// matter since the value lives in the global heap.
void write_text_attribute(hid_t object, const std::string& name, const std::string& value, const std::string& where) {
  if (!is_cf_text_attribute(name)) {
    const Hdf5Handle type = utf8_string_type(0);
    const char* pointer = value.c_str();
    write_attribute(object, name, type.get(), type.get(), &pointer, 1, true, where);
    return;
  }
  const Hdf5Handle type = utf8_string_type(std::max<std::size_t>(value.size(), 1));
  check_status(H5Tset_strpad(type.get(), H5T_STR_NULLTERM), where + ": cannot set the padding of attribute '" + name + "'");
  if (!value.empty()) {
    write_attribute(object, name, type.get(), type.get(), value.data(), 1, true, where);
    return;
  }
  delete_attribute_if_present(object, name, where);
  Hdf5Handle space{check_id(H5Screate(H5S_NULL), where + ": cannot create the dataspace of attribute '" + name + "'"),
                   H5Sclose};
  Hdf5Handle attribute{check_id(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                                where + ": cannot create attribute '" + name + "'"),
                       H5Aclose};
}

template <typename Stored>
std::vector<Stored> convert_flags(const std::vector<int>& flags, const std::string& where) {
  std::vector<Stored> converted;
  converted.reserve(flags.size());
  for (const int flag : flags) {
    if constexpr (std::is_integral_v<Stored>) {
      if (flag < std::numeric_limits<Stored>::min() || flag > std::numeric_limits<Stored>::max())
        throw RuntimeFailure(where + ": flag value " + std::to_string(flag) + " does not fit the variable's type");
    }
    converted.push_back(static_cast<Stored>(flag));
  }
  return converted;
}

// CF requires flag_values to have the variable's own type (int8 flags for an int8 variable).
void write_flag_values(hid_t dataset, ElementType type, const std::vector<int>& flags, const std::string& where) {
  const hsize_t count = flags.size();
  const auto write = [&](const auto& values) {
    write_attribute(dataset, "flag_values", file_type(type), memory_type(type), values.data(), count, false, where);
  };
  switch (type) {
    case ElementType::float32: write(convert_flags<float>(flags, where)); break;
    case ElementType::float64: write(convert_flags<double>(flags, where)); break;
    case ElementType::int8: write(convert_flags<std::int8_t>(flags, where)); break;
    case ElementType::int32: write(convert_flags<std::int32_t>(flags, where)); break;
    case ElementType::int64: write(convert_flags<std::int64_t>(flags, where)); break;
  }
}

std::size_t count_words(const std::string& text) {
  std::size_t words = 0;
  bool in_word = false;
  for (const char c : text) {
    const bool space = c == ' ';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

// Dataset creation properties shared by coordinates and variables.
Hdf5Handle dataset_creation_plist() {
  Hdf5Handle dcpl = make_plist(H5P_DATASET_CREATE);
  // Untracked, netCDF-C lists attributes in hash order once there are more than 8 (measured with
  // netCDF-C 4.9.0); tracked and indexed, xarray's netcdf4 engine shows them in the order written.
  check_status(H5Pset_attr_creation_order(dcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
               "cannot track attribute creation order");
  // Object timestamps would make two runs with the same seed differ byte for byte; `created` says when.
  check_status(H5Pset_obj_track_times(dcpl.get(), false), "cannot disable object timestamps");
  return dcpl;
}

constexpr hsize_t default_chunk_patients = 1024;
// HDF5 refuses chunks of 4 GiB or more; far smaller chunks are what readers want anyway.
constexpr hsize_t max_chunk_bytes = (hsize_t{1} << 32) - 1;
// Bound on the per-dataset chunk cache: several large variables are open at once.
constexpr std::size_t max_chunk_cache_bytes = std::size_t{256} << 20;

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;  // best effort: durability, not correctness, depends on it
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

namespace {
constexpr std::size_t kTemporaryRandomChars = 6;
}  // namespace

void skip_hdf5_shutdown_at_exit() { H5dont_atexit(); }

Hdf5Handle& Hdf5Handle::operator=(Hdf5Handle&& other) noexcept {
  if (this != &other) {
    reset();
    closer_ = other.closer_;
    id_ = other.release();
  }
  return *this;
}

bool Hdf5Handle::reset() noexcept {
  if (id_ < 0 || closer_ == nullptr) return true;
  const herr_t status = closer_(id_);
  id_ = H5I_INVALID_HID;
  return status >= 0;
}

namespace {

std::string temporary_prefix(const std::string& final_path) { return final_path + ".tmp."; }

// "<pid>.<6 letters or digits>" (and the bare "<pid>" of older versions) after the prefix.
std::optional<pid_t> temporary_owner(const std::string& suffix) {
  std::size_t digits = 0;
  while (digits < suffix.size() && std::isdigit(static_cast<unsigned char>(suffix[digits]))) ++digits;
  if (digits == 0 || digits > 9) return std::nullopt;
  if (digits != suffix.size()) {
    if (suffix.size() != digits + 1 + kTemporaryRandomChars || suffix[digits] != '.') return std::nullopt;
    for (std::size_t i = digits + 1; i < suffix.size(); ++i) {
      if (!std::isalnum(static_cast<unsigned char>(suffix[i]))) return std::nullopt;
    }
  }
  return static_cast<pid_t>(std::stol(suffix.substr(0, digits)));
}

void refuse_non_regular(const std::string& final_path) {
  struct stat info {};
  if (::lstat(final_path.c_str(), &info) != 0) return;  // nothing there yet
  if (S_ISDIR(info.st_mode)) throw RuntimeFailure("cannot write results to '" + final_path + "': it is a directory");
  if (!S_ISREG(info.st_mode)) {
    throw RuntimeFailure("cannot write results to '" + final_path + "': it exists and is not a regular file (" +
                         (S_ISLNK(info.st_mode) ? "a symbolic link" : "a device, pipe or socket") +
                         "); only a regular file is ever replaced");
  }
}

}  // namespace

std::vector<std::string> ResultsFile::remove_stale_temporaries(const std::string& final_path) {
  std::vector<std::string> removed;
  const std::filesystem::path target(final_path);
  const std::filesystem::path folder = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code error;
  for (std::filesystem::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const auto owner = temporary_owner(name.substr(prefix.size()));
    if (!owner) continue;
    // Only when its process is gone (ESRCH); a live process, or one we may not signal, keeps it.
    if (::kill(*owner, 0) == 0 || errno != ESRCH) continue;
    struct stat info {};
    if (::lstat(it->path().c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
    if (::unlink(it->path().c_str()) == 0) removed.push_back(it->path().string());
  }
  return removed;
}

ResultsFile::ResultsFile(std::string final_path) : final_path_(std::move(final_path)) {
  refuse_non_regular(final_path_);
  removed_stale_ = remove_stale_temporaries(final_path_);

  QuietHdf5Errors quiet;
  const auto create_failure = "cannot create a results file beside '" + final_path_ + "'";
  // Same reason as in dataset_creation_plist(), for the root group's attributes and variables.
  Hdf5Handle fcpl = make_plist(H5P_FILE_CREATE);
  check_status(H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), create_failure);
  check_status(H5Pset_attr_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), create_failure);
  Hdf5Handle fapl = make_plist(H5P_FILE_ACCESS);
  // 1.8 object format at both ends: the root group's many links and attributes get indexed dense
  // storage (and checksummed headers), yet HDF5 1.8 readers such as older MATLAB still open the file.
  check_status(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_V18), create_failure);
  // Closing the file must really close it before the rename or unlink, whatever else is open.
  check_status(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), create_failure);
  // mkstemp's recipe with HDF5 doing the open: an unpredictable name, created with H5F_ACC_EXCL,
  // which the sec2 driver opens O_CREAT|O_EXCL. That open fails on any existing name, a symbolic
  // link included (POSIX: O_EXCL with O_CREAT never follows a link), so a planted file or link can
  // never be written through.
  std::random_device entropy;
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  for (int attempt = 0; attempt < 100 && !file_.valid(); ++attempt) {
    std::string name = temporary_prefix(final_path_) + std::to_string(::getpid()) + ".";
    for (std::size_t i = 0; i < kTemporaryRandomChars; ++i) name += kAlphabet[entropy() % (sizeof(kAlphabet) - 1)];
    const hid_t id = H5Fcreate(name.c_str(), H5F_ACC_EXCL, fcpl.get(), fapl.get());
    if (id >= 0) {
      temporary_path_ = name;
      file_ = Hdf5Handle{id, H5Fclose};
      break;
    }
    struct stat info {};
    if (::lstat(name.c_str(), &info) != 0) fail(create_failure + " ('" + name + "')");  // not a name clash
    H5Eclear2(H5E_DEFAULT);
  }
  if (!file_.valid()) throw RuntimeFailure(create_failure + ": no unused temporary name after 100 attempts");
}

ResultsFile::~ResultsFile() {
  QuietHdf5Errors quiet;
  close_all();
  if (!committed_) std::remove(temporary_path_.c_str());
  H5Eclear2(H5E_DEFAULT);
}

void ResultsFile::close_all() noexcept {
  for (auto it = variables_.rbegin(); it != variables_.rend(); ++it) it->dataset.reset();
  for (auto it = dimension_order_.rbegin(); it != dimension_order_.rend(); ++it) {
    const auto found = dimensions_.find(*it);
    if (found != dimensions_.end()) found->second.dataset.reset();
  }
  file_.reset();
}

void ResultsFile::abandon() noexcept {
  close_all();
  std::remove(temporary_path_.c_str());
}

std::string ResultsFile::where(const std::string& object) const {
  return "results file '" + temporary_path_ + "', " + object;
}

void ResultsFile::require_open(const char* operation) const {
  if (!file_.valid())
    throw RuntimeFailure("results file '" + final_path_ + "': " + operation + " after commit()");
}

void ResultsFile::register_dimension(const std::string& name, Hdf5Handle dataset, hsize_t length) {
  const std::string context = where("dimension '" + name + "'");
  check_status(H5DSset_scale(dataset.get(), name.c_str()), context + ": cannot make it a dimension scale");
  dimension_order_.push_back(name);
  dimensions_[name] = Dimension{std::move(dataset), length};
}

void ResultsFile::add_numeric_dimension(const std::string& name, hid_t in_memory_type, const void* coords,
                                        hsize_t length, const std::string& units, const std::string& long_name) {
  require_open("add_dimension");
  const std::string context = where("dimension '" + name + "'");
  if (name.empty()) throw RuntimeFailure(where("dimension with an empty name"));
  if (dimensions_.count(name) != 0) throw RuntimeFailure(context + ": already exists");
  if (units.empty() || long_name.empty()) throw RuntimeFailure(context + ": units and long_name are required");

  ElementType type = ElementType::float64;
  if (H5Tequal(in_memory_type, H5T_NATIVE_INT64) > 0) type = ElementType::int64;
  if (H5Tequal(in_memory_type, H5T_NATIVE_INT32) > 0) type = ElementType::int32;

  QuietHdf5Errors quiet;
  Hdf5Handle space{check_id(H5Screate_simple(1, &length, nullptr), context + ": cannot create its dataspace"), H5Sclose};
  const Hdf5Handle dcpl = dataset_creation_plist();
  Hdf5Handle dataset{check_id(H5Dcreate2(file_.get(), name.c_str(), file_type(type), space.get(), H5P_DEFAULT,
                                         dcpl.get(), H5P_DEFAULT),
                              context + ": cannot create it"),
                     H5Dclose};
  if (length > 0)
    check_status(H5Dwrite(dataset.get(), in_memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, coords),
                 context + ": cannot write its coordinates");
  write_text_attribute(dataset.get(), "units", units, context);
  write_text_attribute(dataset.get(), "long_name", long_name, context);
  register_dimension(name, std::move(dataset), length);
}

void ResultsFile::add_dimension(const std::string& name, const std::vector<double>& coords, const std::string& units,
                                const std::string& long_name) {
  add_numeric_dimension(name, H5T_NATIVE_DOUBLE, coords.data(), coords.size(), units, long_name);
}

void ResultsFile::add_dimension(const std::string& name, const std::vector<std::int64_t>& coords,
                                const std::string& units, const std::string& long_name) {
  add_numeric_dimension(name, H5T_NATIVE_INT64, coords.data(), coords.size(), units, long_name);
}

void ResultsFile::add_dimension(const std::string& name, const std::vector<std::int32_t>& coords,
                                const std::string& units, const std::string& long_name) {
  add_numeric_dimension(name, H5T_NATIVE_INT32, coords.data(), coords.size(), units, long_name);
}

void ResultsFile::add_index_dimension(const std::string& name, hsize_t length, const std::string& units,
                                      const std::string& long_name) {
  require_open("add_index_dimension");
  const std::string context = where("dimension '" + name + "'");
  if (name.empty()) throw RuntimeFailure(where("dimension with an empty name"));
  if (dimensions_.count(name) != 0) throw RuntimeFailure(context + ": already exists");
  if (units.empty() || long_name.empty()) throw RuntimeFailure(context + ": units and long_name are required");

  QuietHdf5Errors quiet;
  Hdf5Handle space{check_id(H5Screate_simple(1, &length, nullptr), context + ": cannot create its dataspace"), H5Sclose};
  const Hdf5Handle dcpl = dataset_creation_plist();
  Hdf5Handle dataset{check_id(H5Dcreate2(file_.get(), name.c_str(), file_type(ElementType::int64), space.get(),
                                         H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                              context + ": cannot create it"),
                     H5Dclose};
  // 64 Ki coordinates (512 KiB) per write: large enough that the per-call overhead is negligible.
  constexpr hsize_t block = hsize_t{1} << 16;
  std::vector<std::int64_t> buffer(static_cast<std::size_t>(std::min(block, length)));
  for (hsize_t first = 0; first < length; first += block) {
    const hsize_t count = std::min(block, length - first);
    for (hsize_t i = 0; i < count; ++i) buffer[i] = static_cast<std::int64_t>(first + i);
    Hdf5Handle memory{check_id(H5Screate_simple(1, &count, nullptr), context + ": cannot create a block dataspace"),
                      H5Sclose};
    check_status(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &first, nullptr, &count, nullptr),
                 context + ": cannot select a block");
    check_status(H5Dwrite(dataset.get(), H5T_NATIVE_INT64, memory.get(), space.get(), H5P_DEFAULT, buffer.data()),
                 context + ": cannot write its coordinates");
  }
  write_text_attribute(dataset.get(), "units", units, context);
  write_text_attribute(dataset.get(), "long_name", long_name, context);
  register_dimension(name, std::move(dataset), length);
}

// A 1-D variable-length UTF-8 string dataset holding `values`, with units "1" and its long name.
// Variable-length: fixed-length string datasets crash netCDF-C 4.9.0 (style.md).
Hdf5Handle ResultsFile::write_utf8_strings(const std::string& name, const std::vector<std::string>& values,
                                           const std::string& long_name, const std::string& context) {
  QuietHdf5Errors quiet;
  const hsize_t length = values.size();
  const Hdf5Handle type = utf8_string_type(0);
  Hdf5Handle space{check_id(H5Screate_simple(1, &length, nullptr), context + ": cannot create its dataspace"), H5Sclose};
  const Hdf5Handle dcpl = dataset_creation_plist();
  Hdf5Handle dataset{check_id(H5Dcreate2(file_.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, dcpl.get(),
                                         H5P_DEFAULT),
                              context + ": cannot create it"),
                     H5Dclose};
  std::vector<const char*> pointers(values.size());
  std::transform(values.begin(), values.end(), pointers.begin(), [](const std::string& v) { return v.c_str(); });
  if (length > 0)
    check_status(H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()),
                 context + ": cannot write its values");
  write_text_attribute(dataset.get(), "units", "1", context);
  write_text_attribute(dataset.get(), "long_name", long_name, context);
  return dataset;
}

void ResultsFile::add_label_dimension(const std::string& name, const std::vector<std::string>& labels,
                                      const std::string& long_name) {
  require_open("add_label_dimension");
  const std::string context = where("dimension '" + name + "'");
  if (name.empty()) throw RuntimeFailure(where("dimension with an empty name"));
  if (dimensions_.count(name) != 0) throw RuntimeFailure(context + ": already exists");
  if (long_name.empty()) throw RuntimeFailure(context + ": long_name is required");
  // The reader refuses an empty label as damage, so none is written.
  for (const auto& label : labels) {
    if (label.empty()) throw RuntimeFailure(context + ": an empty label");
  }
  register_dimension(name, write_utf8_strings(name, labels, long_name, context), labels.size());
}

void ResultsFile::add_string_variable(const std::string& name, const std::string& dimension,
                                      const std::vector<std::string>& values, const std::string& long_name) {
  require_open("add_string_variable");
  const std::string context = where("variable '" + name + "'");
  const auto found = dimensions_.find(dimension);
  if (found == dimensions_.end()) throw RuntimeFailure(context + ": unknown dimension '" + dimension + "'");
  if (found->second.length != values.size()) throw RuntimeFailure(context + ": one value per " + dimension + " expected");
  const Hdf5Handle dataset = write_utf8_strings(name, values, long_name, context);
  QuietHdf5Errors quiet;
  check_status(H5DSattach_scale(dataset.get(), found->second.dataset.get(), 0),
               context + ": cannot attach dimension scale '" + dimension + "'");
}

int ResultsFile::create_variable(const VariableSpec& spec) {
  require_open("create_variable");
  const std::string context = where("variable '" + spec.name + "'");
  if (spec.name.empty()) throw RuntimeFailure(where("variable with an empty name"));
  if (dimensions_.count(spec.name) != 0 ||
      std::any_of(variables_.begin(), variables_.end(), [&](const Variable& v) { return v.name == spec.name; }))
    throw RuntimeFailure(context + ": a dimension or variable of that name already exists");
  if (spec.units.empty() || spec.long_name.empty()) throw RuntimeFailure(context + ": units and long_name are required");
  if (spec.flag_values.empty() != spec.flag_meanings.empty() ||
      count_words(spec.flag_meanings) != spec.flag_values.size())
    throw RuntimeFailure(context + ": flag_meanings needs one word per flag value");

  std::vector<hsize_t> shape;
  int patient_axis = -1;
  for (const auto& dim : spec.dims) {
    const auto found = dimensions_.find(dim);
    if (found == dimensions_.end()) throw RuntimeFailure(context + ": unknown dimension '" + dim + "'");
    if (dim == "patient") patient_axis = static_cast<int>(shape.size());
    shape.push_back(found->second.length);
  }

  QuietHdf5Errors quiet;
  const Hdf5Handle dcpl = dataset_creation_plist();
  const Hdf5Handle dapl = make_plist(H5P_DATASET_ACCESS);
  if (spec.type == ElementType::float32) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    check_status(H5Pset_fill_value(dcpl.get(), H5T_NATIVE_FLOAT, &nan), context + ": cannot set its fill value");
  } else if (spec.type == ElementType::float64) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    check_status(H5Pset_fill_value(dcpl.get(), H5T_NATIVE_DOUBLE, &nan), context + ": cannot set its fill value");
  } else if (spec.type == ElementType::int8 && !spec.flag_values.empty() &&
             std::find(spec.flag_values.begin(), spec.flag_values.end(), -1) == spec.flag_values.end()) {
    // A flag cell that was never written (or whose chunk a damaged file lost) must not read as a
    // valid 0 ("no response"): -1 is no flag value, so readers that check flags refuse it.
    const signed char minus_one = -1;
    check_status(H5Pset_fill_value(dcpl.get(), H5T_NATIVE_SCHAR, &minus_one), context + ": cannot set its fill value");
  }

  const bool has_empty_axis = std::find(shape.begin(), shape.end(), hsize_t{0}) != shape.end();
  std::vector<hsize_t> chunk;
  if (patient_axis >= 0 && !has_empty_axis) {
    chunk = shape;
    const hsize_t patients = shape[patient_axis];
    chunk[patient_axis] = std::min(patients, spec.chunk_patients > 0 ? spec.chunk_patients : default_chunk_patients);
    const hsize_t chunk_bytes =
        std::accumulate(chunk.begin(), chunk.end(), hsize_t{element_bytes(spec.type)}, std::multiplies<>());
    if (chunk_bytes > max_chunk_bytes)
      throw RuntimeFailure(context + ": a chunk of " + std::to_string(chunk[patient_axis]) +
                           " patients exceeds HDF5's 4 GiB chunk limit; lower chunk_patients");
    check_status(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()),
                 context + ": cannot set its chunk shape");
    if (spec.compress) {
      check_status(H5Pset_shuffle(dcpl.get()), context + ": cannot enable shuffle");
      check_status(H5Pset_deflate(dcpl.get(), 1), context + ": cannot enable deflate");
    }
    // The engine fills a chunk one arm at a time; the cache must hold a whole chunk, or every partial
    // write would deflate, evict and re-inflate it (measured: 4 arms x 100k patients x 200 times,
    // 2.8 s with HDF5's 1 MiB default cache, 0.7 s with a whole chunk). It holds exactly one: the
    // chunk being filled stays until the next batch's chunk evicts it, complete, so chunks are
    // deflated as the run goes. A cache of 1 MiB or more kept up to that much per dataset until the
    // file closed, to be deflated then in one serial step: 0.42 s of closing at 100,000 P1
    // patients (the whole run 5.4 -> 4.7 s on 2 threads, paired). w0 = 1 evicts full chunks first.
    const std::size_t cache_bytes = std::min<std::size_t>(max_chunk_cache_bytes, chunk_bytes);
    check_status(H5Pset_chunk_cache(dapl.get(), 521, cache_bytes, 1.0), context + ": cannot size its chunk cache");
  }

  Hdf5Handle space{check_id(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr),
                            context + ": cannot create its dataspace"),
                   H5Sclose};
  Hdf5Handle dataset{check_id(H5Dcreate2(file_.get(), spec.name.c_str(), file_type(spec.type), space.get(),
                                         H5P_DEFAULT, dcpl.get(), dapl.get()),
                              context + ": cannot create it"),
                     H5Dclose};
  for (std::size_t axis = 0; axis < spec.dims.size(); ++axis)
    check_status(H5DSattach_scale(dataset.get(), dimensions_[spec.dims[axis]].dataset.get(), static_cast<unsigned>(axis)),
                 context + ": cannot attach dimension scale '" + spec.dims[axis] + "'");
  write_text_attribute(dataset.get(), "units", spec.units, context);
  write_text_attribute(dataset.get(), "long_name", spec.long_name, context);
  if (!spec.flag_values.empty()) {
    write_flag_values(dataset.get(), spec.type, spec.flag_values, context);
    write_text_attribute(dataset.get(), "flag_meanings", spec.flag_meanings, context);
  }
  for (const auto& [name, value] : spec.text_attributes) write_text_attribute(dataset.get(), name, value, context);
  // CF's _FillValue, of the variable's own type: NaN, as the dataset's HDF5 fill value above. netCDF
  // readers otherwise assume the default fill 9.97e36; with it, ncdump prints unwritten and NaN cells as `_`.
  if (spec.type == ElementType::float32) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    write_attribute(dataset.get(), "_FillValue", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &nan, 1, false, context);
  } else if (spec.type == ElementType::float64) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    write_attribute(dataset.get(), "_FillValue", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &nan, 1, false, context);
  }

  const bool compressed = !chunk.empty() && spec.compress;
  variables_.push_back(Variable{spec.name, std::move(dataset), spec.type, std::move(shape), std::move(chunk), compressed});
  return static_cast<int>(variables_.size() - 1);
}

void ResultsFile::write_any(int variable, ElementType buffer_type, const std::vector<hsize_t>& start,
                            const std::vector<hsize_t>& count, const void* data) {
  require_open("write");
  if (variable < 0 || static_cast<std::size_t>(variable) >= variables_.size())
    throw RuntimeFailure(where("write to unknown variable id " + std::to_string(variable)));
  const Variable& target = variables_[variable];
  const std::string context = where("variable '" + target.name + "'");
  if (buffer_type != target.type)
    throw RuntimeFailure(context + ": is " + type_name(target.type) + " but the buffer holds " + type_name(buffer_type));
  const std::size_t rank = target.shape.size();
  if (start.size() != rank || count.size() != rank)
    throw RuntimeFailure(context + ": start and count need " + std::to_string(rank) + " entries");
  hsize_t elements = 1;
  for (std::size_t axis = 0; axis < rank; ++axis) {
    if (start[axis] > target.shape[axis] || count[axis] > target.shape[axis] - start[axis])
      throw RuntimeFailure(context + ": axis " + std::to_string(axis) + " slab [" + std::to_string(start[axis]) + ", " +
                           std::to_string(start[axis] + count[axis]) + ") exceeds its length " +
                           std::to_string(target.shape[axis]));
    elements *= count[axis];
  }
  if (elements == 0) return;
  if (data == nullptr) throw RuntimeFailure(context + ": null data buffer");

  QuietHdf5Errors quiet;
  if (rank == 0) {
    check_status(H5Dwrite(target.dataset.get(), memory_type(target.type), H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
                 context + ": cannot write");
    return;
  }
  Hdf5Handle file_space{check_id(H5Dget_space(target.dataset.get()), context + ": cannot get its dataspace"), H5Sclose};
  check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
               context + ": cannot select the slab");
  Hdf5Handle memory_space{check_id(H5Screate_simple(static_cast<int>(rank), count.data(), nullptr),
                                   context + ": cannot create the buffer's dataspace"),
                          H5Sclose};
  check_status(H5Dwrite(target.dataset.get(), memory_type(target.type), memory_space.get(), file_space.get(),
                        H5P_DEFAULT, data),
               context + ": cannot write the slab");
}

namespace {

// HDF5's shuffle filter: byte k of every element, then byte k+1, ... Element by element with the
// size known at compile time (one load, E byte stores): the plane-by-plane byte gather with a
// run-time stride it replaces was ~9% of a full-output P1 run.
template <std::size_t E>
void shuffle_fixed(const unsigned char* bytes, std::size_t n_elements, unsigned char* out) {
  for (std::size_t i = 0; i < n_elements; ++i) {
    unsigned char element[E];
    std::memcpy(element, bytes + i * E, E);
    for (std::size_t k = 0; k < E; ++k) out[k * n_elements + i] = element[k];
  }
}

#ifdef __SSE2__
// Four-byte elements (the concentrations: most of a full-output file), sixteen at a time: three
// rounds of byte interleaves turn two registers of four elements each into the four byte planes
// of those eight elements, and a 64-bit interleave joins two such halves (the transposition
// Blosc's shuffle4_sse2 does). SSE2 is x86-64's baseline. The rest go element by element.
void shuffle4(const unsigned char* bytes, std::size_t n_elements, unsigned char* out) {
  auto load = [&](std::size_t i) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + 4 * i)); };
  // Elements e..e+7 from two registers: planes 0 and 1 in `low`, planes 2 and 3 in `high`.
  auto planes_of_eight = [](__m128i a, __m128i b, __m128i& low, __m128i& high) {
    const __m128i t0 = _mm_unpacklo_epi8(a, b), t1 = _mm_unpackhi_epi8(a, b);
    const __m128i u0 = _mm_unpacklo_epi8(t0, t1), u1 = _mm_unpackhi_epi8(t0, t1);
    low = _mm_unpacklo_epi8(u0, u1);
    high = _mm_unpackhi_epi8(u0, u1);
  };
  std::size_t i = 0;
  for (; i + 16 <= n_elements; i += 16) {
    __m128i low0, high0, low1, high1;
    planes_of_eight(load(i), load(i + 4), low0, high0);
    planes_of_eight(load(i + 8), load(i + 12), low1, high1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm_unpacklo_epi64(low0, low1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + n_elements + i), _mm_unpackhi_epi64(low0, low1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * n_elements + i), _mm_unpacklo_epi64(high0, high1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 3 * n_elements + i), _mm_unpackhi_epi64(high0, high1));
  }
  for (; i < n_elements; ++i) {
    for (std::size_t k = 0; k < 4; ++k) out[k * n_elements + i] = bytes[4 * i + k];
  }
}
#else
void shuffle4(const unsigned char* bytes, std::size_t n_elements, unsigned char* out) {
  shuffle_fixed<4>(bytes, n_elements, out);
}
#endif

void shuffle_bytes(const unsigned char* bytes, std::size_t n_elements, std::size_t element_size, unsigned char* out) {
  switch (element_size) {
    case 1: std::memcpy(out, bytes, n_elements); return;  // the filter leaves one-byte elements as they are
    case 2: shuffle_fixed<2>(bytes, n_elements, out); return;
    case 4: shuffle4(bytes, n_elements, out); return;
    case 8: shuffle_fixed<8>(bytes, n_elements, out); return;
    default:
      for (std::size_t k = 0; k < element_size; ++k) {
        for (std::size_t i = 0; i < n_elements; ++i) out[k * n_elements + i] = bytes[i * element_size + k];
      }
  }
}

}  // namespace

void ResultsFile::encode_chunk(const void* data, std::size_t n_elements, std::size_t element_size,
                               std::vector<unsigned char>& scratch, std::vector<unsigned char>& out) {
  // HDF5's deflate filter stores a zlib stream (RFC 1950) at the dataset's level (1). libdeflate
  // writes that format too, about twice as fast as zlib's compress2 at level 1; HDF5 (and any
  // reader) inflates it with zlib as usual. The bytes differ from zlib's, the values do not. One
  // compressor per thread: allocating one costs more than compressing a small chunk.
  struct FreeCompressor {
    void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
  };
  thread_local const std::unique_ptr<libdeflate_compressor, FreeCompressor> compressor(libdeflate_alloc_compressor(1));
  if (!compressor) throw RuntimeFailure("libdeflate could not allocate a compressor");
  if (element_size != 1 && element_size != 2 && element_size != 4 && element_size != 8)
    throw RuntimeFailure("encode_chunk: elements of " + std::to_string(element_size) + " bytes");
  const std::size_t input_size = n_elements * element_size;
  const std::size_t bound = libdeflate_zlib_compress_bound(compressor.get(), input_size);
  // scratch holds the shuffled chunk and, after it, room for the compressed stream. It only ever
  // grows, so nothing is allocated or zero-filled again: a batch's chunks alternate between a few
  // hundred bytes and megabytes, and resizing to each chunk's size zero-filled the regrown part
  // every time (1.3% of a full-output P1 run). `out` receives only the compressed bytes (resizing
  // `out` to the bound and back zero-filled ~2 MB per chunk in the same way).
  if (scratch.size() < input_size + bound) scratch.resize(input_size + bound);
  // HDF5's shuffle filter: byte k of every element, then byte k+1, ... (for one-byte elements
  // it leaves the bytes as they are, and so does this)
  shuffle_bytes(static_cast<const unsigned char*>(data), n_elements, element_size, scratch.data());
  unsigned char* compressed = scratch.data() + input_size;
  const std::size_t compressed_size = libdeflate_zlib_compress(compressor.get(), scratch.data(), input_size, compressed, bound);
  if (compressed_size == 0) {
    throw RuntimeFailure("libdeflate could not compress a chunk of " + std::to_string(n_elements) + " values");
  }
  out.assign(compressed, compressed + compressed_size);
}

const std::vector<hsize_t>& ResultsFile::chunk_shape(int variable) const { return variables_.at(variable).chunk; }

void ResultsFile::write_encoded_chunk(int variable, const std::vector<hsize_t>& chunk_start,
                                      const std::vector<unsigned char>& encoded) {
  require_open("write_encoded_chunk");
  if (variable < 0 || static_cast<std::size_t>(variable) >= variables_.size())
    throw RuntimeFailure(where("write to unknown variable id " + std::to_string(variable)));
  const Variable& target = variables_[variable];
  const std::string context = where("variable '" + target.name + "'");
  if (!target.compressed) throw RuntimeFailure(context + ": encoded chunks are only for compressed variables");
  if (chunk_start.size() != target.chunk.size()) throw RuntimeFailure(context + ": chunk offset has the wrong rank");
  for (std::size_t axis = 0; axis < chunk_start.size(); ++axis) {
    if (chunk_start[axis] % target.chunk[axis] != 0 || chunk_start[axis] >= target.shape[axis])
      throw RuntimeFailure(context + ": chunk offset " + std::to_string(chunk_start[axis]) + " on axis " +
                           std::to_string(axis) + " is not a chunk boundary");
  }
  QuietHdf5Errors quiet;
  check_status(H5Dwrite_chunk(target.dataset.get(), H5P_DEFAULT, 0, chunk_start.data(), encoded.size(), encoded.data()),
               context + ": cannot write a chunk");
}

void ResultsFile::write(int variable, const std::vector<hsize_t>& start, const std::vector<hsize_t>& count,
                        const float* data) {
  write_any(variable, ElementType::float32, start, count, data);
}
void ResultsFile::write(int variable, const std::vector<hsize_t>& start, const std::vector<hsize_t>& count,
                        const double* data) {
  write_any(variable, ElementType::float64, start, count, data);
}
void ResultsFile::write(int variable, const std::vector<hsize_t>& start, const std::vector<hsize_t>& count,
                        const std::int8_t* data) {
  write_any(variable, ElementType::int8, start, count, data);
}
void ResultsFile::write(int variable, const std::vector<hsize_t>& start, const std::vector<hsize_t>& count,
                        const std::int32_t* data) {
  write_any(variable, ElementType::int32, start, count, data);
}
void ResultsFile::write(int variable, const std::vector<hsize_t>& start, const std::vector<hsize_t>& count,
                        const std::int64_t* data) {
  write_any(variable, ElementType::int64, start, count, data);
}

void ResultsFile::set_attribute(const std::string& name, const std::string& value) {
  require_open("set_attribute");
  QuietHdf5Errors quiet;
  write_text_attribute(file_.get(), name, value, where("root attribute '" + name + "'"));
}

void ResultsFile::set_attribute(const std::string& name, double value) {
  require_open("set_attribute");
  QuietHdf5Errors quiet;
  write_attribute(file_.get(), name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, 1, true,
                  where("root attribute '" + name + "'"));
}

// No 64-bit integer attributes: R's ncdf4 warns on every one (R has no such type). The value is
// stored in the narrowest type that holds it exactly: int32, else float64 (exact up to 2^53), else
// its decimal text.
void ResultsFile::set_attribute(const std::string& name, std::int64_t value) {
  require_open("set_attribute");
  QuietHdf5Errors quiet;
  const std::string context = where("root attribute '" + name + "'");
  constexpr std::int64_t exact_double_limit = std::int64_t{1} << 53;
  if (value >= std::numeric_limits<std::int32_t>::min() && value <= std::numeric_limits<std::int32_t>::max()) {
    const auto narrow = static_cast<std::int32_t>(value);
    write_attribute(file_.get(), name, H5T_STD_I32LE, H5T_NATIVE_INT32, &narrow, 1, true, context);
  } else if (value >= -exact_double_limit && value <= exact_double_limit) {
    const auto wide = static_cast<double>(value);
    write_attribute(file_.get(), name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &wide, 1, true, context);
  } else {
    write_text_attribute(file_.get(), name, std::to_string(value), context);
  }
}

void ResultsFile::commit(const std::function<void(const std::string&)>& before_rename) {
  require_open("commit");
  QuietHdf5Errors quiet;
  // Chunks still in the cache are compressed and written while closing, so a full disk shows up
  // here: every close is checked before the file may take the output path.
  bool closed = true;
  for (auto it = variables_.rbegin(); it != variables_.rend(); ++it) closed = it->dataset.reset() && closed;
  for (auto it = dimension_order_.rbegin(); it != dimension_order_.rend(); ++it)
    closed = dimensions_[*it].dataset.reset() && closed;
  if (closed) closed = H5Fflush(file_.get(), H5F_SCOPE_LOCAL) >= 0;
  if (!closed) {
    const std::string reason = take_hdf5_error();
    abandon();
    throw RuntimeFailure("cannot finish results file '" + temporary_path_ + "'" + reason);
  }
  if (!file_.reset()) {
    const std::string reason = take_hdf5_error();
    abandon();
    throw RuntimeFailure("cannot close results file '" + temporary_path_ + "'" + reason);
  }

  // The file's bytes reach the disk while before_rename reads it back (from the page cache): the
  // two waits overlap instead of adding up (fsync was 7-10 ms of a P1 run, the read-back 11-15).
  // Both are done before the rename; the future's destructor waits for the fsync if
  // before_rename throws. Without a thread to spare, the fsync runs first, as before.
  std::future<void> synced;
  try {
    synced = std::async(std::launch::async, [path = temporary_path_] { fsync_path(path); });
  } catch (const std::system_error&) {
    fsync_path(temporary_path_);
  }
  if (before_rename) before_rename(temporary_path_);
  if (synced.valid()) synced.get();
  refuse_non_regular(final_path_);  // again: the path may have changed while the run went on
  if (std::rename(temporary_path_.c_str(), final_path_.c_str()) != 0)
    throw RuntimeFailure("cannot rename results file '" + temporary_path_ + "' to '" + final_path_ +
                         "': " + std::strerror(errno));
  committed_ = true;
  // The rename itself is durable only once the folder's entry is on disk.
  const std::filesystem::path folder = std::filesystem::path(final_path_).parent_path();
  fsync_path(folder.empty() ? std::string(".") : folder.string());
}

}  // namespace ketasim::io
