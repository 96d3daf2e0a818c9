#pragma once
// CurvesPlot: redraws the training curves as PNG files after every epoch —
// the loss (train and validation) and each other metric — so a run always has
// an up-to-date picture on disk, even if it is interrupted.
#include <filesystem>
#include <string>
#include <vector>

#include "kiln/train/callback.h"

namespace kiln::train {

class CurvesPlot : public Callback {
 public:
  /// Writes <dir>/<stem>_loss.png and <dir>/<stem>_<metric>.png.
  CurvesPlot(std::filesystem::path dir, std::string stem, std::string title);
  std::string name() const override { return "curves_plot"; }
  void on_epoch_end(TrainContext& ctx, std::int64_t epoch, const Logs& logs) override;
  nlohmann::json save_state(nn::StateDict& tensors) const override;
  void load_state(const nlohmann::json& state, const nn::StateDict& tensors) override;
  /// The files drawn so far.
  std::vector<std::filesystem::path> files() const;

 private:
  std::filesystem::path dir_;
  std::string stem_, title_;
  std::vector<Logs> history_;
};

}  // namespace kiln::train
