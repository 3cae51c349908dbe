#pragma once
// SHA-256 of input files for provenance (OpenSSL's libcrypto: a well-kept implementation).
#include <string>

namespace ketasim {

std::string sha256_hex(const std::string& bytes);  // 64 lower-case hex digits

}  // namespace ketasim
