// Switches: a program whose layers' bit widths are chosen when it runs (Bit-Mixer, Bulat &
// Tzimiropoulos, ICCV 2021); src/onebit/runtime/switches.py is the definition, with the same
// checks and messages.
//
// The graph declares "switches": [{"name", "options": [widths], "default"}], and an op whose
// attrs or tensors depend on some of them carries "variants": {"switches": [names], "cases":
// [{"bits": [one option per switch], "attrs": {...}, "tensors": {...}}]}, one case per
// combination of their options. A setting (one option per switch, in declaration order) resolves
// the graph into a plain one, each case's attrs and tensors over its op's own; the program built
// from it shares its tensors with every other setting's (executor/tensor.h).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "op.h"
#include "tensor.h"

namespace onebit {

inline constexpr std::size_t kMaxSwitches = 1024;
inline constexpr std::size_t kMaxSwitchOptions = 8;
inline constexpr std::size_t kMaxOpSwitches = 4;
inline constexpr std::int64_t kMaxSwitchBits = 8;

struct Switch {
  std::string name;
  std::vector<std::int64_t> options;
  std::int64_t default_option = 0;
};

// The graph's switches (program_error if malformed).
std::vector<Switch> parse_switches(const json& graph);

// Checks the graph's switches and every op's variants against them and the tensors; returns the
// tensor names the variants' cases use.
std::set<std::string> variant_tensors(const json& graph, const TensorTable& tensors);

// `bits` (one option per switch, in order), or the defaults where `bits` is empty; input_error
// where an entry is not its switch's option or the count is wrong.
std::vector<std::int64_t> setting_of(const std::vector<Switch>& switches,
                                     const std::vector<std::int64_t>& bits);

// The plain graph of one setting (the graph checked by variant_tensors first).
json resolve_switches(const json& graph, const std::vector<std::int64_t>& setting);

}  // namespace onebit
