// The ops a program may name, by type, and the message for a type it does not know (the Python
// registry's, with difflib's suggestions of the nearest names).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "op.h"

namespace onebit {

using OpFactory = std::unique_ptr<Op> (*)(const json& spec, const TensorTable& tensors);

// Every op type, sorted by name.
const std::map<std::string, OpFactory>& op_factories();

// Python's difflib.get_close_matches(word, possibilities, n, cutoff): the `n` best candidates
// whose SequenceMatcher ratio with `word` is at least `cutoff`, best first (ties: the larger
// string first), comparing Unicode code points.
std::vector<std::string> close_matches(const std::string& word,
                                       const std::vector<std::string>& possibilities, int n = 3,
                                       double cutoff = 0.5);

// "unknown op 'x'; did you mean 'y'? (known: ...)".
std::string unknown_op_message(const std::string& type);

}  // namespace onebit
