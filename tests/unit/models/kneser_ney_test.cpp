// Interpolated Kneser-Ney: a distribution for every context, the textbook
// numbers on a hand-counted corpus, better than lower orders on real text.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "kiln/core/error.h"
#include "kiln/models/kneser_ney.h"

namespace kiln::models {
namespace {

using Ids = std::vector<std::uint16_t>;

TEST(KneserNey, EveryContextGivesADistribution) {
  const Ids corpus{0, 1, 2, 1, 2, 3, 0, 1, 3, 3, 2, 1, 0, 2, 2, 4, 1, 2, 0};
  for (int order = 1; order <= 4; ++order) {
    const KneserNeyLm lm(corpus, 7, order);  // ids 5 and 6 never seen
    for (const Ids& ctx : {Ids{}, Ids{1}, Ids{1, 2}, Ids{0, 1, 2}, Ids{6, 6, 6}, Ids{4, 1}}) {
      double sum = 0.0;
      for (std::uint16_t w = 0; w < 7; ++w) {
        const double p = lm.probability(ctx, w);
        EXPECT_GT(p, 0.0);
        sum += p;
      }
      EXPECT_NEAR(sum, 1.0, 1e-12) << "order " << order << ", context of " << ctx.size();
    }
  }
}

TEST(KneserNey, HandCountedBigrams) {
  // Stream a b a c a b (ids 0 1 0 2 0 1), vocabulary 3, order 2.
  // Bigram counts: ab 2, ba 1, ac 1, ca 1 -> n1 = 3, n2 = 1, D2 = 3/5.
  // Continuation counts: a <- {b, c} = 2, b <- {a} = 1, c <- {a} = 1, and the
  // stream's first token a counts once more: c1(a) = 3, total 5, n1 = 2, n2 = 0 -> D1 = 0.5.
  // p1(b) = (1 - .5)/5 + .5·3/5·(1/3) = 0.2;  p1(c) the same; p1(a) = (3 - .5)/5 + 0.1 = 0.6.
  // p2(b | a) = (2 - .6)/3 + .6·2/3·p1(b) = 1.4/3 + 0.08.
  const KneserNeyLm lm(Ids{0, 1, 0, 2, 0, 1}, 3, 2);
  EXPECT_NEAR(lm.discounts()[1], 0.6, 1e-15);
  EXPECT_NEAR(lm.discounts()[0], 0.5, 1e-15);
  EXPECT_NEAR(lm.probability(Ids{}, 1), 0.2, 1e-12);
  EXPECT_NEAR(lm.probability(Ids{}, 0), 0.6, 1e-12);
  EXPECT_NEAR(lm.probability(Ids{0}, 1), 1.4 / 3.0 + 0.08, 1e-12);
  // Context c was followed once (c a): p2(a | c) = (1 - .6)/1 + .6·1/1·p1(a) = 0.4 + 0.36.
  EXPECT_NEAR(lm.probability(Ids{2}, 0), 0.76, 1e-12);
  EXPECT_EQ(lm.distinct_ngrams(2), 4U);
  // A context never seen (b c) backs off to the unigram entirely.
  const KneserNeyLm lm3(Ids{0, 1, 0, 2, 0, 1}, 3, 3);
  EXPECT_NEAR(lm3.probability(Ids{1, 2}, 0), lm3.probability(Ids{2}, 0), 1e-15);
}

TEST(KneserNey, HigherOrdersPredictRealTextBetter) {
  // Byte-level text of Tang poems: train on most, score the rest.
  std::ifstream in(std::string(KILN_FIXTURES_DIR) + "/text/tang300_excerpt.txt", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  ASSERT_GT(text.size(), 1000U);
  Ids all;
  for (const char c : text) all.push_back(static_cast<unsigned char>(c));
  const std::size_t cut = all.size() * 4 / 5;
  const Ids train(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(cut));
  const Ids held(all.begin() + static_cast<std::ptrdiff_t>(cut), all.end());
  double previous = std::log(256.0);  // the uniform model
  for (int order = 1; order <= 3; ++order) {
    const double ce = KneserNeyLm(train, 256, order).cross_entropy(held);
    EXPECT_LT(ce, previous) << "order " << order;
    previous = ce;
  }
}

TEST(KneserNey, BadInputNamesTheProblem) {
  const auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { KneserNeyLm(Ids{1, 2, 9, 1}, 5, 2); }).find("offset 2 is id 9, outside the vocabulary of 5"),
            std::string::npos);
  EXPECT_NE(message([] { KneserNeyLm(Ids{1, 2}, 5, 5); }).find("order must be 1 to 4"), std::string::npos);
  EXPECT_NE(message([] { KneserNeyLm(Ids{1, 2}, 70000, 2); }).find("65,536"), std::string::npos);
  const KneserNeyLm lm(Ids{1, 2, 1}, 5, 2);
  EXPECT_NE(message([&] { lm.cross_entropy(Ids{1, 7}); }).find("offset 1 is id 7"), std::string::npos);
}

}  // namespace
}  // namespace kiln::models
