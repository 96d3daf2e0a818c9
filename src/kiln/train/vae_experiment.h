#pragma once
// A variational autoencoder on Fashion-MNIST (Keras' VAE example, the MLP
// form): encoder 784→64→32 (ReLU) → mean and log-variance of a 2-d latent;
// z = μ + σ·ε; decoder 2→32→64→784 whose last layer gives logits of the
// pixel intensities (sigmoid gives the image). Loss per image: the binary
// cross-entropy summed over pixels plus KL(q(z|x) ‖ N(0, I)); its negative
// is the evidence lower bound (ELBO) in nats.
//
// `kiln train examples/vae.toml` (task = "vae") runs run_vae_experiment; the
// run dir gets latent.png, grid.png, curves.png, log.csv and model.safetensors.
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/config/config.h"
#include "kiln/core/rng.h"
#include "kiln/nn/linear.h"
#include "kiln/nn/module.h"
#include "kiln/nn/sequential.h"
#include "kiln/train/experiment.h"

namespace kiln::train {

/// Sizes of the VAE, set by name: `Vae({.latent_dim = 8}, gen)`.
struct VaeOptions {
  std::int64_t input_dim = 784;
  std::vector<std::int64_t> encoder_units = {64, 32};  ///< hidden Linear+ReLU layers of the encoder
  std::int64_t latent_dim = 2;
  std::vector<std::int64_t> decoder_units = {32, 64};  ///< hidden Linear+ReLU layers of the decoder
};

/// What one forward pass gives.
struct VaeOutput {
  Tensor logits;   ///< [B, input_dim]: decoder output before the sigmoid
  Tensor mean;     ///< [B, latent_dim]: μ of q(z|x)
  Tensor log_var;  ///< [B, latent_dim]: log σ² of q(z|x)
};

/// The model as a Module whose forward returns three tensors. Children:
/// "encoder" (Sequential), "z_mean" and "z_log_var" (Linear), "decoder"
/// (Sequential), so the state dict reads encoder.0.weight, ..., z_mean.weight,
/// decoder.4.bias — the names bench/torch_vae.py's nn.Module gives.
class Vae : public nn::Module {
 public:
  /// Weights drawn from `gen` (PyTorch's Linear initialisation).
  Vae(const VaeOptions& options, Generator& gen);

  /// x [B, input_dim] in [0, 1]; ε ~ N(0, I) drawn from `noise`, so a seeded
  /// generator makes the pass reproducible.
  VaeOutput forward(const Tensor& x, Generator& noise);
  /// μ and log σ² of q(z|x) for x [B, input_dim].
  std::pair<Tensor, Tensor> encode(const Tensor& x);
  /// Logits [B, input_dim] for latent codes z [B, latent_dim].
  Tensor decode(const Tensor& z);

  /// "Vae(input=784, encoder=[64, 32], latent=2, decoder=[32, 64])".
  std::string name() const override;
  const VaeOptions& options() const { return options_; }

 private:
  VaeOptions options_;
  std::shared_ptr<nn::Sequential> encoder_;
  std::shared_ptr<nn::Linear> z_mean_;
  std::shared_ptr<nn::Linear> z_log_var_;
  std::shared_ptr<nn::Sequential> decoder_;
};

/// The loss of one batch, each term averaged over its images (nats per image).
struct VaeLoss {
  Tensor total;  ///< bce + kl: the negative ELBO; differentiable
  Tensor bce;    ///< reconstruction: BCE with logits summed over pixels
  Tensor kl;     ///< KL(q(z|x) ‖ N(0, I)) summed over latent dims
};
VaeLoss vae_loss(const VaeOutput& out, const Tensor& x);

/// The figures a VAE reports for a data set (nats per image).
struct VaeScores {
  double elbo = 0.0;  ///< −(bce + kl)
  double bce = 0.0;
  double kl = 0.0;
};
/// One ε per image from `noise`; eval mode, no graph. x [N, input_dim].
VaeScores evaluate_vae(Vae& model, const Tensor& x, Generator& noise, std::int64_t batch_size = 1000);

/// Trains the config's VAE (see examples/vae.toml for every key), draws the
/// plots, prints "test ELBO: -xxx.xx" and returns test "elbo", "bce" and "kl".
RunResult run_vae_experiment(const config::Document& config, const RunOverrides& overrides);

}  // namespace kiln::train
