#pragma once
// scatter: points coloured by class, e.g. a VAE's 2-d latent codes of the
// Fashion-MNIST test set (10,000 points, 10 classes).
//
//   plot::scatter(run_dir / "latent.png", {.title = "Latent space (test set)", .x_label = "z0", .y_label = "z1"},
//                 z0, z1, labels, {"T-shirt/top", "Trouser", ...});
#include <filesystem>
#include <string>
#include <vector>

namespace kiln::plot {

struct ScatterOptions {
  std::string title{};
  std::string x_label{};
  std::string y_label{};
  int width = 900;   ///< pixels, legend included
  int height = 700;  ///< pixels
  double point_radius = 1.6;  ///< pixels, > 0
  double point_alpha = 0.45;  ///< opacity in (0, 1]: dense regions read darker than sparse ones
};

/// Draws point i at (xs[i], ys[i]) in the colour of class labels[i]
/// (palette_color(labels[i])), in the given order, so no class is drawn
/// entirely on top of another when the input is shuffled. The legend, beside
/// the plot area, names each class by class_names[c]. Points with a NaN or
/// infinite coordinate are left out. Writes the PNG to `path` atomically.
/// Throws kiln::Error starting "plot::scatter '<path>': " when xs, ys and
/// labels differ in length or are empty, there are no class names or more than
/// ten (the palette has ten colours), a label is outside [0, class count), no
/// point is finite, an option is out of range, the image is too small for its
/// text, or the file cannot be written.
void scatter(const std::filesystem::path& path, const ScatterOptions& options, const std::vector<double>& xs,
             const std::vector<double>& ys, const std::vector<int>& labels, const std::vector<std::string>& class_names);

}  // namespace kiln::plot
