#include <iostream>
#include "ketasim/version.hpp"
int main() { std::cout << "ketasim " << ketasim::kVersion << "\n"; }
