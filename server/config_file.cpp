#include "server/config_file.h"

#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

namespace rk::server {

namespace {

std::string where(const std::string& source, const toml::source_region& r) {
  return source + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
}

// Reads one table, refusing keys it does not know and values of the wrong
// type or out of range, each with the place it was found.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string source, std::string name)
      : table_(table), source_(std::move(source)), name_(std::move(name)) {}

  [[noreturn]] void fail(const toml::node& node, const std::string& why) const {
    throw ConfigError(where(source_, node.source()) + ": " + why);
  }

  std::optional<std::string> string(const std::string& key, const std::set<std::string>& allowed = {}) {
    const toml::node* n = take(key);
    if (!n) return std::nullopt;
    auto v = n->value<std::string>();
    if (!n->is_string() || !v) fail(*n, key_name(key) + " must be a string");
    if (!allowed.empty() && !allowed.count(*v)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(*n, key_name(key) + " must be one of " + list + " (got '" + *v + "')");
    }
    if (allowed.empty() && v->empty()) fail(*n, key_name(key) + " must not be empty");
    return v;
  }

  std::optional<int64_t> integer(const std::string& key, int64_t min, int64_t max) {
    const toml::node* n = take(key);
    if (!n) return std::nullopt;
    if (!n->is_integer()) fail(*n, key_name(key) + " must be an integer");
    const int64_t v = *n->value<int64_t>();
    if (v < min || v > max)
      fail(*n, key_name(key) + " must be in [" + std::to_string(min) + ", " + std::to_string(max) + "] (got " +
                   std::to_string(v) + ")");
    return v;
  }

  // A ring size: a power of two in [4 KiB, 64 MiB], as the server accepts.
  std::optional<uint64_t> ring_bytes(const std::string& key) {
    const toml::node* n = table_.get(key);
    auto v = integer(key, 4096, 64ll << 20);
    if (v && (*v & (*v - 1)) != 0) fail(*n, key_name(key) + " must be a power of two (got " + std::to_string(*v) + ")");
    return v ? std::optional<uint64_t>(uint64_t(*v)) : std::nullopt;
  }

  std::optional<bool> boolean(const std::string& key) {
    const toml::node* n = take(key);
    if (!n) return std::nullopt;
    if (!n->is_boolean()) fail(*n, key_name(key) + " must be true or false");
    return *n->value<bool>();
  }

  // A key read by someone else (a sub-table).
  void accept(const std::string& key) { known_.insert(key); }

  // After reading: any key nobody asked for is a typo or from a newer version.
  void no_unknown_keys() const {
    for (const auto& [k, v] : table_)
      if (!known_.count(std::string(k.str())))
        throw ConfigError(where(source_, k.source()) + ": unknown key " + key_name(std::string(k.str())));
  }

 private:
  const toml::node* take(const std::string& key) {
    known_.insert(key);
    return table_.get(key);
  }
  std::string key_name(const std::string& key) const { return "'" + (name_.empty() ? "" : name_ + ".") + key + "'"; }

  const toml::table& table_;
  std::string source_, name_;
  std::set<std::string> known_;
};

const std::set<std::string> kBackends = {"auto", "cpu", "cuda"};
const std::set<std::string> kTransfers = {"auto", "mapped", "staged"};
const std::set<std::string> kLogLevels = {"trace", "debug", "info", "warn", "error", "off"};

const toml::table& sub_table(const toml::table& root, const std::string& key, const std::string& source) {
  static const toml::table empty;
  const toml::node* n = root.get(key);
  if (!n) return empty;
  if (!n->is_table()) throw ConfigError(where(source, n->source()) + ": '" + key + "' must be a table ([" + key + "])");
  return *n->as_table();
}

}  // namespace

DaemonConfig parse_config(std::string_view text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw ConfigError(where(source, e.source()) + ": " + std::string(e.description()));
  }
  DaemonConfig c;
  TableReader top(root, source, "");
  for (const char* table : {"server", "rings", "limits", "kernel"}) top.accept(table);
  top.no_unknown_keys();

  TableReader server(sub_table(root, "server", source), source, "server");
  c.socket = server.string("socket");
  c.backend = server.string("backend", kBackends);
  c.allow_group = server.string("allow_group");
  c.log_level = server.string("log_level", kLogLevels);
  c.metrics_listen = server.string("metrics_listen");
  c.terminate_timeout_ms = server.integer("terminate_timeout_ms", 1, 600000);
  server.no_unknown_keys();

  TableReader rings(sub_table(root, "rings", source), source, "rings");
  c.default_ring_bytes = rings.ring_bytes("default_bytes");
  rings.no_unknown_keys();

  TableReader limits(sub_table(root, "limits", source), source, "limits");
  c.max_sessions = limits.integer("sessions", 1, 65536);
  c.segment_bytes = limits.integer("segment_bytes", 1ll << 20, 4096ll << 20);
  c.kernels_per_session = limits.integer("kernels_per_session", 1, 4096);
  limits.no_unknown_keys();

  if (const toml::node* n = root.get("kernel")) {
    const toml::array* list = n->as_array();
    if (!list || !list->is_array_of_tables())
      throw ConfigError(where(source, n->source()) + ": 'kernel' must be an array of tables ([[kernel]])");
    std::set<std::string> names;
    for (const toml::node& entry : *list) {
      TableReader k(*entry.as_table(), source, "kernel");
      StartupKernel s;
      s.where = where(source, entry.source());
      auto name = k.string("name");
      auto kernel = k.string("kernel");
      if (!name) k.fail(entry, "[[kernel]] needs a 'name' (the shared instance clients attach to)");
      if (!kernel) k.fail(entry, "[[kernel]] '" + *name + "' needs a 'kernel' (e.g. \"echo\")");
      if (!names.insert(*name).second) k.fail(entry, "two [[kernel]] entries are named '" + *name + "'");
      s.name = *name;
      s.kernel = *kernel;
      s.backend = k.string("backend", kBackends).value_or("auto");
      s.device = int32_t(k.integer("device", -1, 1023).value_or(-1));
      s.ring_bytes = k.ring_bytes("ring_bytes").value_or(0);
      s.transfer = k.string("transfer", kTransfers).value_or("auto");
      s.grid = uint32_t(k.integer("grid", 0, 1 << 20).value_or(0));
      s.block = uint32_t(k.integer("block", 0, 1024).value_or(0));
      s.active = k.boolean("active").value_or(true);
      k.no_unknown_keys();
      c.kernels.push_back(std::move(s));
    }
  }
  return c;
}

DaemonConfig load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot read the configuration file");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read the configuration file");
  return parse_config(text.str(), path);
}

}  // namespace rk::server
