#pragma once
// An independent check of the HDF5 global heap collections in a file, before libhdf5 reads them.
//
// Variable-length strings (our text attributes and label datasets) live in global heap
// collections ("GCOL" blocks). libhdf5 1.10.8 walks a collection's objects by their stored sizes
// and never checks that the walk moves forward, so a damaged size (a free-space object of size 0,
// or a size that wraps the pointer around) makes `H5Aread` loop forever (found by the results
// fuzzer: tests/fuzz/crashes/results/hdf5-global-heap-hang.h5). We walk every collection the same
// way first and refuse the file if any walk would not end exactly where it should.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace ketasim::io {

// The collections are found by scanning for their signature (version 1, three zero bytes); a
// chance match inside compressed data would also need those four bytes, about 1 in 2^32 per
// signature match, so valid files are not refused in practice. Returns what is damaged, or
// nothing when every collection walks cleanly.
std::optional<std::string> find_damaged_global_heap(const std::uint8_t* bytes, std::size_t size);

// The same for a file on disk (memory-mapped). Throws InputError when it cannot be read.
std::optional<std::string> find_damaged_global_heap(const std::string& path);

}  // namespace ketasim::io
