#include "switches.h"

#include <algorithm>

#include "executor/utf8.h"
#include "program.h"

namespace onebit {

namespace {

bool is_width(const json& value) {
  std::int64_t width = 0;
  return is_json_integer(value) && json_integer_in(value, 1, kMaxSwitchBits, width);
}

std::string ints_repr(const std::vector<std::int64_t>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}

const Switch* find_switch(const std::vector<Switch>& switches, const std::string& name) {
  for (const Switch& s : switches)
    if (s.name == name) return &s;
  return nullptr;
}

program_error variants_error(const std::string& where, const std::string& text) {
  return program_error(where + ": variants " + text);
}

bool contains_option(const Switch& s, std::int64_t value) {
  return std::find(s.options.begin(), s.options.end(), value) != s.options.end();
}

// One op's variants, checked; the tensor names its cases use are added to `used`.
void check_variants(const std::string& where, const json& spec,
                    const std::vector<Switch>& switches, const TensorTable& tensors,
                    std::set<std::string>& used) {
  if ((spec.contains("attrs") && !spec["attrs"].is_object()) ||
      (spec.contains("tensors") && !spec["tensors"].is_object()))
    throw variants_error(where, "need the op's attrs and tensors to be objects");
  const json& variants = spec["variants"];
  const json none;
  const json& names = variants.is_object() && variants.contains("switches") ? variants["switches"] : none;
  const json& cases = variants.is_object() && variants.contains("cases") ? variants["cases"] : none;
  std::vector<const Switch*> chosen;
  bool names_ok = names.is_array() && !names.empty() && names.size() <= kMaxOpSwitches;
  for (std::size_t i = 0; names_ok && i < names.size(); ++i) {
    const Switch* s = names[i].is_string() ? find_switch(switches, names[i].get<std::string>()) : nullptr;
    names_ok = s != nullptr && std::find(chosen.begin(), chosen.end(), s) == chosen.end();
    chosen.push_back(s);
  }
  if (!names_ok)
    throw variants_error(where, "must name 1 to " + std::to_string(kMaxOpSwitches) +
                                    " distinct switches the program declares");
  std::size_t expected = 1;
  for (const Switch* s : chosen) expected *= s->options.size();
  if (!cases.is_array() || cases.size() != expected)
    throw variants_error(where, "need one case per combination of their options (" +
                                    std::to_string(expected) + ")");
  std::set<std::vector<std::int64_t>> seen;
  for (const json& entry : cases) {
    const json& bits = entry.is_object() && entry.contains("bits") ? entry["bits"] : none;
    std::vector<std::int64_t> values;
    bool ok = bits.is_array() && bits.size() == chosen.size();
    for (std::size_t i = 0; ok && i < bits.size(); ++i) {
      std::int64_t value = 0;
      ok = bits[i].is_number_integer() && json_integer_in(bits[i], 1, kMaxSwitchBits, value) &&
           contains_option(*chosen[i], value);
      values.push_back(value);
    }
    if (!ok || seen.count(values))
      throw variants_error(where, "cases need distinct bits, one option of each of their switches");
    seen.insert(values);
    if ((entry.contains("attrs") && !entry["attrs"].is_object()) ||
        (entry.contains("tensors") && !entry["tensors"].is_object()))
      throw variants_error(where, "cases' attrs and tensors must be objects");
    if (!entry.contains("tensors")) continue;
    const json& roles = entry["tensors"];
    for (auto role = roles.begin(); role != roles.end(); ++role) {
      const json& name = role.value();
      if (!name.is_string() || !tensors.count(name.get<std::string>()))
        throw variants_error(where, "case " + ints_repr(values) + ": tensor " + role.key() + "=" +
                                        python_repr_json(name) + " is missing");
      used.insert(name.get<std::string>());
    }
  }
}

}  // namespace

std::vector<Switch> parse_switches(const json& graph) {
  std::vector<Switch> switches;
  if (!graph.is_object() || !graph.contains("switches")) return switches;
  const json& specs = graph["switches"];
  if (!specs.is_array() || specs.size() > kMaxSwitches)
    throw program_error("the program's switches must be a list of at most " +
                        std::to_string(kMaxSwitches));
  for (std::size_t index = 0; index < specs.size(); ++index) {
    const json& spec = specs[index];
    const json none;
    const json& name = spec.is_object() && spec.contains("name") ? spec["name"] : none;
    const json& options = spec.is_object() && spec.contains("options") ? spec["options"] : none;
    const json& fallback = spec.is_object() && spec.contains("default") ? spec["default"] : none;
    Switch parsed;
    bool ok = name.is_string() && utf8_length(name.get<std::string>()) > 0 &&
              utf8_length(name.get<std::string>()) <= 64 && options.is_array() &&
              !options.empty() && options.size() <= kMaxSwitchOptions;
    for (std::size_t i = 0; ok && i < options.size(); ++i) {
      ok = options[i].is_number_integer() && is_width(options[i]);
      if (ok) {
        const std::int64_t width = options[i].get<std::int64_t>();
        ok = !contains_option(parsed, width);
        parsed.options.push_back(width);
      }
    }
    ok = ok && fallback.is_number_integer() && is_width(fallback) &&
         contains_option(parsed, fallback.get<std::int64_t>());
    if (!ok)
      throw program_error("switch #" + std::to_string(index) +
                          " needs a name (1 to 64 characters), 1 to " +
                          std::to_string(kMaxSwitchOptions) +
                          " distinct options (bit widths 1 to " + std::to_string(kMaxSwitchBits) +
                          ") and a default among them");
    parsed.name = name.get<std::string>();
    parsed.default_option = fallback.get<std::int64_t>();
    if (find_switch(switches, parsed.name))
      throw program_error("switch #" + std::to_string(index) + " repeats the name " +
                          python_repr(parsed.name));
    switches.push_back(std::move(parsed));
  }
  return switches;
}

std::set<std::string> variant_tensors(const json& graph, const TensorTable& tensors) {
  const std::vector<Switch> switches = parse_switches(graph);
  std::set<std::string> used;
  if (!graph.contains("ops") || !graph["ops"].is_array()) return used;
  const json& ops = graph["ops"];
  for (std::size_t index = 0; index < ops.size(); ++index) {
    const json& spec = ops[index];
    if (!spec.is_object() || !spec.contains("variants")) continue;
    const std::string where = "op #" + std::to_string(index);
    if (switches.empty())
      throw program_error(where + " has variants but the program has no switches");
    check_variants(where, spec, switches, tensors, used);
  }
  return used;
}

std::vector<std::int64_t> setting_of(const std::vector<Switch>& switches,
                                     const std::vector<std::int64_t>& bits) {
  std::vector<std::int64_t> setting;
  if (bits.empty()) {
    for (const Switch& s : switches) setting.push_back(s.default_option);
    return setting;
  }
  if (switches.empty())
    throw input_error("this program has no switchable layers; it runs at one setting");
  if (bits.size() != switches.size())
    throw input_error("bits needs one width per switch (" + std::to_string(switches.size()) +
                      "), got " + std::to_string(bits.size()));
  for (std::size_t i = 0; i < bits.size(); ++i)
    if (!contains_option(switches[i], bits[i]))
      throw input_error("switch " + python_repr(switches[i].name) + " runs at " +
                        ints_repr(switches[i].options) + " bits, not " + std::to_string(bits[i]));
  return bits;
}

json resolve_switches(const json& graph, const std::vector<std::int64_t>& setting) {
  json resolved = graph;
  if (!resolved.contains("ops") || !resolved["ops"].is_array()) return resolved;
  const std::vector<Switch> switches = parse_switches(graph);
  for (json& spec : resolved["ops"]) {
    if (!spec.is_object() || !spec.contains("variants")) continue;
    const json variants = std::move(spec["variants"]);
    spec.erase("variants");
    std::vector<std::int64_t> wanted;
    for (const json& name : variants["switches"]) {
      const std::string text = name.get<std::string>();
      for (std::size_t i = 0; i < switches.size(); ++i)
        if (switches[i].name == text) wanted.push_back(setting[i]);
    }
    for (const json& entry : variants["cases"]) {
      if (entry["bits"].get<std::vector<std::int64_t>>() != wanted) continue;
      for (const char* part : {"attrs", "tensors"}) {
        if (!spec.contains(part)) spec[part] = json::object();
        if (!entry.contains(part)) continue;
        for (auto item = entry[part].begin(); item != entry[part].end(); ++item)
          spec[part][item.key()] = item.value();
      }
      break;
    }
  }
  return resolved;
}

}  // namespace onebit
