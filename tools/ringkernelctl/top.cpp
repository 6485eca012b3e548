#include "tools/ringkernelctl/top.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "schema/wire.h"
#include "tools/ringkernelctl/handles.h"
#include "tools/ringkernelctl/instance_list.h"

namespace rk::ctl {

namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// One instance in one refresh.
struct Sample {
  InstanceRow row;
  rk_metrics m{};
  double rate = -1;  // messages per second since the previous refresh; -1: not known yet
};

std::string rate_text(double r) {
  if (r < 0) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(r < 10 ? 1 : 0) << r;
  return s.str();
}

void print_text(const std::string& socket, const rk_server_info& info, const std::vector<Sample>& rows,
                uint32_t refresh, bool clear) {
  if (clear) std::cout << "\033[H\033[2J";
  std::cout << "ringkerneld pid " << info.pid << " at " << socket << " | sessions " << info.sessions
            << " | instances " << info.instances << " | refresh " << refresh << "\n";
  std::vector<std::vector<std::string>> t = {
      {"NAME", "KERNEL", "STATE", "BACKEND", "MSG/S", "PROCESSED", "ERRORS", "QUEUE", "LAT AVG", "LAT MAX", "CH"}};
  for (const auto& s : rows)
    t.push_back({s.row.instance_name, s.row.kernel, state_name(s.m.state), backend_name(s.row.backend),
                 rate_text(s.rate), std::to_string(s.m.processed), std::to_string(s.m.errors),
                 format_bytes(s.m.queue_depth), format_ns(s.m.latency_avg_ns), format_ns(s.m.latency_max_ns),
                 std::to_string(s.m.channels)});
  std::vector<size_t> w(t[0].size(), 0);
  for (const auto& r : t)
    for (size_t c = 0; c < r.size(); ++c) w[c] = std::max(w[c], r[c].size());
  for (const auto& r : t) {
    for (size_t c = 0; c < r.size(); ++c) std::cout << std::left << std::setw(int(w[c] + 2)) << r[c];
    std::cout << "\n";
  }
  if (rows.empty()) std::cout << "(no shared kernel instances)\n";
  std::cout << std::endl;  // flush: a pipe reader sees each refresh whole
}

Json to_json(const rk_server_info& info, const std::vector<Sample>& rows, uint32_t refresh) {
  Json j;
  j["refresh"] = refresh;
  j["pid"] = info.pid;
  j["sessions"] = info.sessions;
  Json arr = Json::array();
  for (const auto& s : rows) {
    Json i;
    i["name"] = s.row.instance_name;
    i["kernel"] = s.row.kernel;
    i["id"] = s.row.id;
    i["state"] = state_name(s.m.state);
    i["backend"] = backend_name(s.row.backend);
    i["device"] = s.row.device;
    i["rate_per_s"] = s.rate < 0 ? Json(nullptr) : Json(s.rate);
    i["processed"] = s.m.processed;
    i["errors"] = s.m.errors;
    i["queue_depth_bytes"] = s.m.queue_depth;
    i["latency_avg_ns"] = s.m.latency_avg_ns;
    i["latency_max_ns"] = s.m.latency_max_ns;
    i["channels"] = s.m.channels;
    arr.push_back(std::move(i));
  }
  j["instances"] = std::move(arr);
  return j;
}

}  // namespace

void cmd_top(const Globals& g, const TopArgs& a) {
  rk_client* raw = nullptr;
  const std::string socket = g.socket.empty() ? wire::default_socket_path() : g.socket;
  check(rk_connect(g.socket.empty() ? nullptr : g.socket.c_str(), &raw), "connect to " + socket);
  ClientPtr client(raw);
  const int list_timeout = g.timeout_ms < 0 ? 10000 : int(std::min<int64_t>(g.timeout_ms, 600000));
  const bool clear = !g.json && isatty(STDOUT_FILENO);

  // Attached once and kept: metrics need a binding, and re-attaching every
  // refresh would churn channels.
  std::map<std::string, KernelPtr> attached;
  std::map<std::string, std::pair<uint64_t, Clock::time_point>> previous;
  for (uint32_t refresh = 1; a.iterations == 0 || refresh <= a.iterations; ++refresh) {
    if (refresh > 1) std::this_thread::sleep_for(std::chrono::milliseconds(a.interval_ms));
    rk_server_info info;
    rk_server_info_init(&info);
    check(rk_server_info_get(client.get(), &info), "server info");
    std::vector<Sample> rows;
    std::map<std::string, KernelPtr> still;
    for (const InstanceRow& r : list_instances(g.socket, list_timeout)) {
      if (r.instance_name.empty()) continue;
      auto it = attached.find(r.instance_name);
      KernelPtr k;
      if (it != attached.end()) {
        k = std::move(it->second);
      } else {
        rk_kernel* kr = nullptr;
        if (rk_attach(client.get(), r.instance_name.c_str(), &kr) != RK_OK) continue;  // gone meanwhile
        k.reset(kr);
      }
      Sample s;
      s.row = r;
      rk_metrics_init(&s.m);
      if (rk_kernel_metrics(k.get(), &s.m) != RK_OK) continue;
      const auto now = Clock::now();
      if (auto p = previous.find(r.instance_name); p != previous.end()) {
        const double dt = std::chrono::duration<double>(now - p->second.second).count();
        if (dt > 0 && s.m.processed >= p->second.first) s.rate = double(s.m.processed - p->second.first) / dt;
      }
      previous[r.instance_name] = {s.m.processed, now};
      rows.push_back(s);
      still[r.instance_name] = std::move(k);
    }
    attached.swap(still);  // instances that went away are released
    if (g.json) std::cout << to_json(info, rows, refresh).dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
    else print_text(socket, info, rows, refresh, clear);
  }
}

}  // namespace rk::ctl
