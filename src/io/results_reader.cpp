#include "ketasim/io/results_reader.hpp"

#include <hdf5.h>
#include <hdf5_hl.h>

#include <sys/stat.h>

#include <sstream>

#include "ketasim/core/error.hpp"

namespace ketasim::io {

namespace {

struct File {
  hid_t id = -1;
  ~File() {
    if (id >= 0) H5Fclose(id);
  }
};

[[noreturn]] void not_results(const std::string& path, const std::string& what) {
  throw InputError(SourceLocation{path, what, 0, 0}, "not a ketasim results file (missing or unreadable '" + what + "')");
}

template <typename T>
void read_dataset(hid_t file, const std::string& path, const char* name, hid_t type, std::vector<T>& out,
                  std::size_t expected) {
  out.resize(expected);
  if (H5LTfind_dataset(file, name) <= 0 || H5LTread_dataset(file, name, type, out.data()) < 0) not_results(path, name);
}

std::string read_string_attribute(hid_t file, const char* name) {
  if (H5Aexists(file, name) <= 0) return {};
  const hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
  const hid_t type = H5Aget_type(attr);
  std::string value;
  if (H5Tis_variable_str(type) > 0) {
    char* text = nullptr;
    const hid_t mem = H5Tcopy(H5T_C_S1);
    H5Tset_size(mem, H5T_VARIABLE);
    H5Tset_cset(mem, H5T_CSET_UTF8);
    if (H5Aread(attr, mem, &text) >= 0 && text) {
      value = text;
      H5free_memory(text);
    }
    H5Tclose(mem);
  } else {
    value.resize(H5Tget_size(type));
    H5Aread(attr, type, value.data());
    value = value.c_str();
  }
  H5Tclose(type);
  H5Aclose(attr);
  return value;
}

double read_double_attribute(hid_t file, const char* name) {
  double value = 0.0;
  if (H5Aexists(file, name) > 0) H5LTget_attribute_double(file, "/", name, &value);
  return value;
}

}  // namespace

EndpointData read_endpoints(const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) throw InputError(SourceLocation{path, "", 0, 0}, "file not found");
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(SourceLocation{path, "", 0, 0}, "not an HDF5 file");
  File f;
  f.id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f.id < 0) throw InputError(SourceLocation{path, "", 0, 0}, "cannot open the HDF5 file");
  EndpointData d;
  // Arm labels are variable-length UTF-8 strings.
  const hid_t arm = H5Dopen2(f.id, "arm", H5P_DEFAULT);
  if (arm < 0) not_results(path, "arm");
  const hid_t space = H5Dget_space(arm);
  hsize_t n_arms = 0;
  H5Sget_simple_extent_dims(space, &n_arms, nullptr);
  std::vector<char*> labels(n_arms, nullptr);
  const hid_t str = H5Tcopy(H5T_C_S1);
  H5Tset_size(str, H5T_VARIABLE);
  H5Tset_cset(str, H5T_CSET_UTF8);
  const herr_t ok = H5Dread(arm, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data());
  for (char* label : labels) d.arms.emplace_back(label ? label : "");
  if (ok >= 0) H5Dvlen_reclaim(str, space, H5P_DEFAULT, labels.data());
  H5Tclose(str);
  H5Sclose(space);
  H5Dclose(arm);
  if (ok < 0) not_results(path, "arm");
  hsize_t dims[1] = {0};
  if (H5LTget_dataset_info(f.id, "patient", dims, nullptr, nullptr) < 0) not_results(path, "patient");
  d.n_patients = static_cast<long long>(dims[0]);
  // Sweep dimensions come first, so the flat arrays are [point][arm][patient].
  const std::string points = read_string_attribute(f.id, "sweep_points");
  std::size_t start = 0;
  while (start <= points.size() && !points.empty()) {
    const auto end = points.find('\n', start);
    d.sweep_points.push_back(points.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (d.sweep_points.empty()) d.sweep_points.emplace_back();
  const std::size_t n = d.sweep_points.size() * static_cast<std::size_t>(n_arms) * dims[0];
  read_dataset(f.id, path, "status", H5T_NATIVE_INT8, d.status, n);
  read_dataset(f.id, path, "response", H5T_NATIVE_INT8, d.response, n);
  read_dataset(f.id, path, "remission", H5T_NATIVE_INT8, d.remission, n);
  read_dataset(f.id, path, "relapse", H5T_NATIVE_INT8, d.relapse, n);
  read_dataset(f.id, path, "madrs_change", H5T_NATIVE_FLOAT, d.change, n);
  d.study_name = read_string_attribute(f.id, "study_name");
  d.primary_visit_d = read_double_attribute(f.id, "primary_visit_d");
  d.remission_threshold = read_double_attribute(f.id, "remission_threshold");
  d.power_replicates = static_cast<long long>(read_double_attribute(f.id, "power_replicates"));
  d.power_patients_per_replicate = static_cast<long long>(read_double_attribute(f.id, "power_patients_per_replicate"));
  if (H5Aexists(f.id, "comparisons") > 0) {
    std::istringstream pairs(read_string_attribute(f.id, "comparisons"));
    int arm = 0, reference = 0;
    while (pairs >> arm >> reference) {
      if (arm >= 0 && reference >= 0 && arm < static_cast<int>(n_arms) && reference < static_cast<int>(n_arms)) d.comparisons.emplace_back(arm, reference);
    }
  } else {
    for (int a = 1; a < static_cast<int>(n_arms); ++a) d.comparisons.emplace_back(a, 0);
  }
  return d;
}

}  // namespace ketasim::io
