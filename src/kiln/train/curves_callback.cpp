#include "kiln/train/curves_callback.h"

#include <cmath>
#include <set>

#include "kiln/plot/line_chart.h"

namespace kiln::train {

CurvesPlot::CurvesPlot(std::filesystem::path dir, std::string stem, std::string title)
    : dir_(std::move(dir)), stem_(std::move(stem)), title_(std::move(title)) {}

std::vector<std::filesystem::path> CurvesPlot::files() const {
  std::vector<std::filesystem::path> out;
  if (history_.empty()) return out;
  for (const auto& [name, v] : history_.back()) {
    if (name.rfind("val_", 0) == 0 || name == "lr") continue;
    out.push_back(dir_ / (stem_ + "_" + name + ".png"));
  }
  return out;
}

void CurvesPlot::on_epoch_end(TrainContext& /*ctx*/, std::int64_t /*epoch*/, const Logs& logs) {
  history_.push_back(logs);
  // One chart per training metric, with its validation twin when logged.
  std::set<std::string> metrics;
  for (const auto& [name, v] : logs) {
    if (name.rfind("val_", 0) != 0 && name != "lr") metrics.insert(name);
  }
  for (const std::string& m : metrics) {
    plot::Series train{.name = "train"}, val{.name = "validation"};
    for (std::size_t e = 0; e < history_.size(); ++e) {
      const auto t = history_[e].find(m), v = history_[e].find("val_" + m);
      const double x = static_cast<double>(e + 1);
      train.x.push_back(x);
      train.y.push_back(t != history_[e].end() ? t->second : NAN);
      val.x.push_back(x);
      val.y.push_back(v != history_[e].end() ? v->second : NAN);
    }
    std::vector<plot::Series> series{train};
    if (logs.count("val_" + m) != 0) series.push_back(val);
    plot::line_chart(dir_ / (stem_ + "_" + m + ".png"),
                     {.title = title_ + ": " + m, .x_label = "epoch", .y_label = m}, series);
  }
}

nlohmann::json CurvesPlot::save_state(nn::StateDict& /*tensors*/) const {
  nlohmann::json a = nlohmann::json::array();
  for (const Logs& l : history_) a.push_back(l);
  return {{"history", a}};
}

void CurvesPlot::load_state(const nlohmann::json& state, const nn::StateDict& /*tensors*/) {
  history_.clear();
  for (const auto& l : state.at("history")) history_.push_back(l.get<Logs>());
}

}  // namespace kiln::train
