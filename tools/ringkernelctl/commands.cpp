#include "tools/ringkernelctl/commands.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "schema/wire.h"
#include "tools/ringkernelctl/handles.h"
#include "tools/ringkernelctl/instance_list.h"

namespace rk::ctl {

namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

std::string socket_of(const Globals& g) { return g.socket.empty() ? wire::default_socket_path() : g.socket; }

int control_timeout_ms(const Globals& g) { return g.timeout_ms < 0 ? 10000 : int(std::min<int64_t>(g.timeout_ms, 600000)); }

void print_json(const Json& j) {
  // Replies may carry arbitrary bytes: never let invalid UTF-8 abort the output.
  std::cout << j.dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
}

ClientPtr connect(const Globals& g) {
  rk_client* c = nullptr;
  check(rk_connect(g.socket.empty() ? nullptr : g.socket.c_str(), &c), "connect to " + socket_of(g));
  return ClientPtr(c);
}

KernelPtr attach(rk_client* c, const std::string& name) {
  rk_kernel* k = nullptr;
  check(rk_attach(c, name.c_str(), &k), "attach '" + name + "'");
  return KernelPtr(k);
}

rk_backend parse_backend(const std::string& b) {
  if (b == "cpu") return RK_BACKEND_CPU;
  if (b == "cuda") return RK_BACKEND_CUDA;
  return RK_BACKEND_AUTO;
}

rk_transfer parse_transfer(const std::string& t) {
  if (t == "mapped") return RK_TRANSFER_MAPPED;
  if (t == "staged") return RK_TRANSFER_STAGED;
  return RK_TRANSFER_AUTO;
}

std::optional<InstanceRow> find_row(const std::vector<InstanceRow>& rows, const std::string& name) {
  for (const auto& r : rows)
    if (r.instance_name == name) return r;
  return std::nullopt;
}

Json row_json(const InstanceRow& r) {
  Json j;
  j["id"] = r.id;
  j["name"] = r.instance_name;
  j["kernel"] = r.kernel;
  j["shared"] = !r.instance_name.empty();
  j["state"] = state_name(r.state);
  j["backend"] = backend_name(r.backend);
  j["device"] = r.device;
  j["channels"] = r.channels;
  j["processed"] = r.processed;
  j["owner_session"] = r.owner_session;
  return j;
}

Json metrics_json(const std::string& name, const std::string& kernel, uint32_t id, const rk_metrics& m) {
  Json j;
  j["name"] = name;
  j["kernel"] = kernel;
  j["id"] = id;
  j["state"] = state_name(m.state);
  j["processed"] = m.processed;
  j["errors"] = m.errors;
  j["dropped"] = m.dropped;
  j["queue_depth_bytes"] = m.queue_depth;
  j["latency_min_ns"] = m.latency_min_ns;
  j["latency_avg_ns"] = m.latency_avg_ns;
  j["latency_max_ns"] = m.latency_max_ns;
  j["heartbeat_age_ns"] = m.heartbeat_ns;
  j["epoch"] = m.epoch;
  j["channels"] = m.channels;
  j["last_error"] = status_name(m.last_error);
  return j;
}

rk_metrics metrics_of(rk_kernel* k, const std::string& name) {
  rk_metrics m;
  rk_metrics_init(&m);
  check(rk_kernel_metrics(k, &m), "metrics of '" + name + "'");
  return m;
}

Json server_json(const Globals& g, const rk_server_info& i) {
  Json j;
  j["socket"] = socket_of(g);
  j["pid"] = i.pid;
  j["abi_version"] = i.abi_version;
  j["library_abi_version"] = rk_abi_version();
  j["default_backend"] = backend_name(i.default_backend);
  j["has_cuda"] = i.has_cuda != 0;
  j["sessions"] = i.sessions;
  j["instances"] = i.instances;
  return j;
}

rk_server_info server_info(rk_client* c) {
  rk_server_info i;
  rk_server_info_init(&i);
  check(rk_server_info_get(c, &i), "server info");
  return i;
}

// Left-aligned columns for text tables.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], r[c].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      line += r[c];
      if (c + 1 < r.size()) line += std::string(width[c] - r[c].size() + 2, ' ');
    }
    std::cout << line << '\n';
  }
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace

void print_failure(const Globals& g, const Failure& f) {
  std::cerr << "ringkernelctl: " << f.what() << " [" << status_name(f.status()) << "]\n";
  if (g.json) {
    Json j;
    j["ok"] = false;
    j["status"] = status_name(f.status());
    j["code"] = int(f.status());
    j["message"] = f.what();
    print_json(j);
  }
}

void cmd_info(const Globals& g) {
  ClientPtr c = connect(g);
  const rk_server_info i = server_info(c.get());
  if (g.json) return print_json(server_json(g, i));
  std::cout << "ringkerneld at " << socket_of(g) << "\n"
            << "  pid              " << i.pid << "\n"
            << "  ABI              " << i.abi_version << " (this library: " << rk_abi_version() << ")\n"
            << "  default backend  " << backend_name(i.default_backend) << "\n"
            << "  CUDA backend     " << (i.has_cuda ? "offered" : "not offered") << "\n"
            << "  sessions         " << i.sessions << " (this one included)\n"
            << "  instances        " << i.instances << "\n";
}

void cmd_list(const Globals& g) {
  const auto rows = list_instances(g.socket, control_timeout_ms(g));
  if (g.json) {
    Json arr = Json::array();
    for (const auto& r : rows) arr.push_back(row_json(r));
    Json j;
    j["instances"] = std::move(arr);
    return print_json(j);
  }
  if (rows.empty()) {
    std::cout << "no shared kernel instances (private instances are visible only to their own session)\n";
    return;
  }
  std::vector<std::vector<std::string>> table = {
      {"ID", "NAME", "KERNEL", "STATE", "BACKEND", "DEVICE", "CHANNELS", "PROCESSED"}};
  for (const auto& r : rows)
    table.push_back({std::to_string(r.id), r.instance_name.empty() ? "(private)" : r.instance_name, r.kernel,
                     state_name(r.state), backend_name(r.backend), r.device < 0 ? "-" : std::to_string(r.device),
                     std::to_string(r.channels), std::to_string(r.processed)});
  print_table(table);
}

void cmd_status(const Globals& g, const std::string& name) {
  ClientPtr c = connect(g);
  KernelPtr k = attach(c.get(), name);
  const rk_metrics m = metrics_of(k.get(), name);
  // The kernel's kind is not part of the C ABI's handle: take it from the list.
  std::string kernel;
  if (auto row = find_row(list_instances(g.socket, control_timeout_ms(g)), name)) kernel = row->kernel;
  if (g.json) return print_json(metrics_json(name, kernel, rk_kernel_id(k.get()), m));
  std::cout << name << " (" << (kernel.empty() ? "?" : kernel) << ", instance " << rk_kernel_id(k.get())
            << "): " << state_name(m.state) << "\n"
            << "  processed " << m.processed << ", errors " << m.errors << ", dropped " << m.dropped
            << ", queue depth " << format_bytes(m.queue_depth) << "\n"
            << "  handler latency min " << format_ns(m.latency_min_ns) << ", avg " << format_ns(m.latency_avg_ns)
            << ", max " << format_ns(m.latency_max_ns) << "\n"
            << "  heartbeat " << format_ns(m.heartbeat_ns) << " ago, epoch " << m.epoch << ", channels "
            << m.channels << " (this query's included)\n"
            << "  last error " << status_name(m.last_error) << "\n";
}

void cmd_metrics(const Globals& g, const std::vector<std::string>& names) {
  ClientPtr c = connect(g);
  const rk_server_info info = server_info(c.get());
  const auto rows = list_instances(g.socket, control_timeout_ms(g));
  std::vector<std::string> wanted = names;
  if (wanted.empty())
    for (const auto& r : rows)
      if (!r.instance_name.empty()) wanted.push_back(r.instance_name);

  Json instances = Json::array();
  std::vector<std::vector<std::string>> table = {{"NAME", "KERNEL", "STATE", "PROCESSED", "ERRORS", "DROPPED",
                                                  "QUEUE", "LAT MIN", "LAT AVG", "LAT MAX", "HEARTBEAT", "CHANNELS"}};
  for (const auto& name : wanted) {
    rk_kernel* raw = nullptr;
    const rk_status s = rk_attach(c.get(), name.c_str(), &raw);
    // Enumerated but gone since (terminated between list and attach): skip it.
    if (s == RK_E_NOT_FOUND && names.empty()) continue;
    check(s, "attach '" + name + "'");
    KernelPtr k(raw);
    const rk_metrics m = metrics_of(k.get(), name);
    const auto row = find_row(rows, name);
    const std::string kernel = row ? row->kernel : "";
    instances.push_back(metrics_json(name, kernel, rk_kernel_id(k.get()), m));
    table.push_back({name, kernel.empty() ? "?" : kernel, state_name(m.state), std::to_string(m.processed),
                     std::to_string(m.errors), std::to_string(m.dropped), format_bytes(m.queue_depth),
                     format_ns(m.latency_min_ns), format_ns(m.latency_avg_ns), format_ns(m.latency_max_ns),
                     format_ns(m.heartbeat_ns), std::to_string(m.channels)});
  }
  if (g.json) {
    Json j;
    j["server"] = server_json(g, info);
    j["instances"] = std::move(instances);
    return print_json(j);
  }
  std::cout << "ringkerneld pid " << info.pid << " at " << socket_of(g) << ": " << info.sessions
            << " session(s), " << info.instances << " instance(s), default backend "
            << backend_name(info.default_backend) << "\n";
  if (table.size() == 1) {
    std::cout << "no shared kernel instances to report (launch one with: ringkernelctl launch <kernel> --name N)\n";
    return;
  }
  print_table(table);
  std::cout << "(latencies are the kernel's handler times; channels include this query's own)\n";
}

void cmd_launch(const Globals& g, const LaunchArgs& a) {
  ClientPtr c = connect(g);
  rk_launch_options o;
  rk_launch_options_init(&o);
  o.backend = parse_backend(a.backend);
  o.instance_name = a.name.c_str();
  o.grid = a.grid;
  o.block = a.block;
  o.ring_bytes = a.ring_bytes;
  o.device = a.device;
  o.transfer = parse_transfer(a.transfer);
  rk_kernel* raw = nullptr;
  check(rk_launch(c.get(), a.kernel.c_str(), &o, &raw), "launch " + a.kernel + " as " + quoted(a.name));
  KernelPtr k(raw);
  if (a.activate) check(rk_activate(k.get()), "activate " + quoted(a.name));
  rk_state state = RK_STATE_LAUNCHED;
  check(rk_kernel_state(k.get(), &state), "state of " + quoted(a.name));
  if (g.json) {
    Json j;
    j["name"] = a.name;
    j["kernel"] = a.kernel;
    j["id"] = rk_kernel_id(k.get());
    j["state"] = state_name(state);
    return print_json(j);
  }
  std::cout << "launched " << a.kernel << " as " << quoted(a.name) << " (instance " << rk_kernel_id(k.get())
            << "), " << state_name(state) << "\n";
  if (!a.activate) std::cout << "activate it with: ringkernelctl activate --attach " << a.name << "\n";
  // k is released here: a shared instance outlives this session.
}

void cmd_lifecycle(const Globals& g, const std::string& verb, const std::string& name) {
  ClientPtr c = connect(g);
  KernelPtr k = attach(c.get(), name);
  const uint32_t id = rk_kernel_id(k.get());
  if (verb == "activate")
    check(rk_activate(k.get()), "activate " + quoted(name));
  else if (verb == "deactivate")
    check(rk_deactivate(k.get()), "deactivate " + quoted(name));
  else
    check(rk_terminate(k.get(), g.timeout_ms), "terminate " + quoted(name));
  rk_state state = verb == "terminate" ? RK_STATE_TERMINATED : RK_STATE_ACTIVE;
  check(rk_kernel_state(k.get(), &state), "state of " + quoted(name));
  if (g.json) {
    Json j;
    j["name"] = name;
    j["id"] = id;
    j["state"] = state_name(state);
    return print_json(j);
  }
  std::cout << quoted(name) << " (instance " << id << "): " << state_name(state) << "\n";
}

void cmd_call(const Globals& g, const CallArgs& a) {
  if (a.kernel != "echo")
    throw Failure(RK_E_INVALID_ARGUMENT, "call: only 'echo' can be called from the command line (its payload is "
                                         "the text given); got '" + a.kernel + "'");
  std::string text;
  for (const auto& w : a.words) text += (text.empty() ? "" : " ") + w;

  ClientPtr c = connect(g);
  KernelPtr k;
  if (a.attach.empty()) {
    rk_launch_options o;
    rk_launch_options_init(&o);
    o.backend = parse_backend(a.backend);
    o.transfer = parse_transfer(a.transfer);
    rk_kernel* raw = nullptr;
    check(rk_launch(c.get(), "echo", &o, &raw), "launch a private echo");
    k.reset(raw);
    check(rk_activate(k.get()), "activate echo");
  } else {
    k = attach(c.get(), a.attach);
  }

  constexpr uint32_t kType = 1;
  std::vector<uint64_t> rtt;
  std::string reply_text;
  for (uint32_t i = 0; i < std::max(a.count, 1u); ++i) {
    rk_message* raw = nullptr;
    const auto t0 = Clock::now();
    const rk_status s = rk_call(k.get(), kType, text.data(), text.size(), &raw, g.timeout_ms);
    const auto t1 = Clock::now();
    MessagePtr reply(raw);
    check(s, "call echo");
    rtt.push_back(uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
    size_t len = 0;
    const void* data = rk_message_data(reply.get(), &len);
    reply_text.assign(static_cast<const char*>(data), len);
    if (reply_text != text)
      throw Failure(RK_E_INTERNAL, "call echo: the reply (" + std::to_string(len) +
                                       " bytes) differs from what was sent (" + std::to_string(text.size()) +
                                       " bytes)");
  }
  if (a.attach.empty()) check(rk_terminate(k.get(), -1), "terminate the private echo");

  std::vector<uint64_t> sorted = rtt;
  std::sort(sorted.begin(), sorted.end());
  const uint64_t p50 = sorted[sorted.size() / 2];
  if (g.json) {
    Json j;
    j["kernel"] = "echo";
    j["instance"] = a.attach.empty() ? Json(nullptr) : Json(a.attach);
    j["reply"] = reply_text;
    j["bytes"] = reply_text.size();
    j["calls"] = rtt.size();
    j["round_trip_ns"] = rtt.front();
    j["round_trip_min_ns"] = sorted.front();
    j["round_trip_p50_ns"] = p50;
    j["round_trip_max_ns"] = sorted.back();
    return print_json(j);
  }
  std::cout << reply_text << "\n";
  if (rtt.size() == 1)
    std::cout << "echo replied " << reply_text.size() << " bytes, round trip " << format_ns(rtt.front()) << "\n";
  else
    std::cout << "echo replied " << reply_text.size() << " bytes; " << rtt.size() << " calls, round trip min "
              << format_ns(sorted.front()) << ", p50 " << format_ns(p50) << ", max " << format_ns(sorted.back())
              << " (first " << format_ns(rtt.front()) << ")\n";
}

}  // namespace rk::ctl
