#include "kiln/train/models.h"

#include "kiln/nn/nn.h"

namespace kiln::train {

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = {"mlp"};
  return names;
}

std::shared_ptr<nn::Layer> make_model(const std::string& name, Generator& gen) {
  if (name == "mlp") {
    return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Layer>>{
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 512, true, gen),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(512, 256, true, gen),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(256, 10, true, gen)});
  }
  std::string known;
  for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown model '" + name + "' (available: " + known + ")");
}

}  // namespace kiln::train
