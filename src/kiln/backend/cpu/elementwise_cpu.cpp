// CPU kernels for copy/fill, unary, binary, compare and where.
#include <cmath>
#include <numbers>

#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/backend/cpu/strided_loop.h"
#include "kiln/ops/kernels.h"

namespace kiln::cpu {

namespace {

// Forces the element functions into map1/map2's vectorised loops: GCC left the
// larger ones (GELU's gradient) out of line, which made those loops scalar.
#define KILN_LAMBDA_INLINE __attribute__((always_inline))

// out[i] = f(in[i]) with a dense fast path.
template <class TO, class TI, class F>
void map1(const Tensor& out, const Tensor& in, F f) {
  const auto plan = make_plan<2>({&out, &in});
  for_each_strided(plan, [&](const std::array<char*, 2>& p, const std::array<std::int64_t, 2>& st, std::int64_t n) {
    if (st[0] == sizeof(TO) && st[1] == sizeof(TI)) {
      TO* o = reinterpret_cast<TO*>(p[0]);
      const TI* x = reinterpret_cast<const TI*>(p[1]);
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
    } else {
      for (std::int64_t i = 0; i < n; ++i) {
        *reinterpret_cast<TO*>(p[0] + i * st[0]) = f(*reinterpret_cast<const TI*>(p[1] + i * st[1]));
      }
    }
  });
}

// out[i] = f(a[i], b[i]); fast paths for dense and dense-with-scalar operands.
template <class TO, class T, class F>
void map2(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  const auto plan = make_plan<3>({&out, &a, &b});
  for_each_strided(plan, [&](const std::array<char*, 3>& p, const std::array<std::int64_t, 3>& st, std::int64_t n) {
    TO* o = reinterpret_cast<TO*>(p[0]);
    const T* x = reinterpret_cast<const T*>(p[1]);
    const T* y = reinterpret_cast<const T*>(p[2]);
    if (st[0] == sizeof(TO) && st[1] == sizeof(T) && st[2] == sizeof(T)) {
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (st[0] == sizeof(TO) && st[1] == sizeof(T) && st[2] == 0) {
      const T yv = *y;
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (st[0] == sizeof(TO) && st[1] == 0 && st[2] == sizeof(T)) {
      const T xv = *x;
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (std::int64_t i = 0; i < n; ++i) {
        *reinterpret_cast<TO*>(p[0] + i * st[0]) =
            f(*reinterpret_cast<const T*>(p[1] + i * st[1]), *reinterpret_cast<const T*>(p[2] + i * st[2]));
      }
    }
  });
}

// ---- copy / fill --------------------------------------------------------------
template <class D>
void copy_kernel(const Tensor& src, const Tensor& out) {
  visit_dtype(src.dtype(), [&](auto s) {
    using S = decltype(s);
    map1<D, S>(out, src, [](S v) { return convert<D>(v); });
  });
}

template <class D>
void fill_kernel(const Tensor& out, double value) {
  const D v = convert<D>(value);
  const auto plan = make_plan<1>({&out});
  for_each_strided(plan, [&](const std::array<char*, 1>& p, const std::array<std::int64_t, 1>& st, std::int64_t n) {
    if (st[0] == sizeof(D)) {
      D* o = reinterpret_cast<D*>(p[0]);
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) o[i] = v;
    } else {
      for (std::int64_t i = 0; i < n; ++i) *reinterpret_cast<D*>(p[0] + i * st[0]) = v;
    }
  });
}

// ---- unary ----------------------------------------------------------------------
constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kSqrt2_Pi = 0.79788456080286535588;  // sqrt(2/pi)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1/sqrt(2 pi)

template <class T, class F>
void unary_map(const Tensor& in, const Tensor& out, F f) {
  using C = compute_t<T>;
  map1<T, T>(out, in, [f](T x) KILN_LAMBDA_INLINE { return convert<T>(f(load(x))); });
  (void)sizeof(C);
}

template <class T>
void unary_float(UnaryOp op, const Tensor& in, const Tensor& out) {
  using C = compute_t<T>;
  switch (op) {
    case UnaryOp::neg: return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return -x; });
    case UnaryOp::exp: return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return exp_c(x); });
    case UnaryOp::log: return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return std::log(x); });
    case UnaryOp::sqrt: return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return std::sqrt(x); });
    case UnaryOp::rsqrt: return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return C(1) / std::sqrt(x); });
    case UnaryOp::abs: return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return std::fabs(x); });
    case UnaryOp::tanh: return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return tanh_c(x); });
    case UnaryOp::sigmoid: return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return sigmoid_c(x); });
    case UnaryOp::relu: return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return x > C(0) ? x : C(0); });
    case UnaryOp::gelu_erf:
      return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return C(0.5) * x * (C(1) + erf_c(x * C(kSqrt1_2))); });
    case UnaryOp::gelu_tanh:
      return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE {
        return C(0.5) * x * (C(1) + tanh_c(C(kSqrt2_Pi) * (x + C(0.044715) * x * x * x)));
      });
    case UnaryOp::silu: return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return x * sigmoid_c(x); });
    case UnaryOp::sin: return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return std::sin(x); });
    case UnaryOp::cos: return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return std::cos(x); });
    case UnaryOp::square: return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return x * x; });
    case UnaryOp::reciprocal: return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return C(1) / x; });
    case UnaryOp::sign:
      return unary_map<T>(in, out, [](C x) KILN_LAMBDA_INLINE { return x > C(0) ? C(1) : (x < C(0) ? C(-1) : C(0)); });
  }
}

template <class T>
void unary_int(UnaryOp op, const Tensor& in, const Tensor& out) {
  switch (op) {
    case UnaryOp::neg: return map1<T, T>(out, in, [](T x) KILN_LAMBDA_INLINE { return static_cast<T>(-x); });
    case UnaryOp::abs: return map1<T, T>(out, in, [](T x) KILN_LAMBDA_INLINE { return static_cast<T>(x < 0 ? -x : x); });
    case UnaryOp::square: return map1<T, T>(out, in, [](T x) KILN_LAMBDA_INLINE { return static_cast<T>(x * x); });
    case UnaryOp::sign: return map1<T, T>(out, in, [](T x) KILN_LAMBDA_INLINE { return static_cast<T>((x > 0) - (x < 0)); });
    default:
      throw Error(std::string("unary op ") + std::to_string(static_cast<int>(op)) + " is not defined for " +
                  dtype_name(dtype_v<T>) + " tensor " + in.str());
  }
}

// ---- binary ---------------------------------------------------------------------
template <class T, class F>
void binary_map(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  map2<T, T>(out, a, b, [f](T x, T y) KILN_LAMBDA_INLINE { return convert<T>(f(load(x), load(y))); });
}

template <class T>
void binary_float(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  using C = compute_t<T>;
  switch (op) {
    case BinaryOp::add: return binary_map<T>(a, b, out, [](C x, C y) KILN_LAMBDA_INLINE { return x + y; });
    case BinaryOp::sub: return binary_map<T>(a, b, out, [](C x, C y) KILN_LAMBDA_INLINE { return x - y; });
    case BinaryOp::mul: return binary_map<T>(a, b, out, [](C x, C y) KILN_LAMBDA_INLINE { return x * y; });
    case BinaryOp::div: return binary_map<T>(a, b, out, [](C x, C y) KILN_LAMBDA_INLINE { return x / y; });
    case BinaryOp::pow: return binary_map<T>(a, b, out, [](C x, C y) KILN_LAMBDA_INLINE { return std::pow(x, y); });
    case BinaryOp::maximum: return binary_map<T>(a, b, out, [](C x, C y) KILN_LAMBDA_INLINE { return x != x ? x : (x > y ? x : y); });
    case BinaryOp::minimum: return binary_map<T>(a, b, out, [](C x, C y) KILN_LAMBDA_INLINE { return x != x ? x : (x < y ? x : y); });
    case BinaryOp::relu_grad: return binary_map<T>(a, b, out, [](C g, C x) KILN_LAMBDA_INLINE { return x > C(0) ? g : C(0); });
    case BinaryOp::gelu_erf_grad:
      return binary_map<T>(a, b, out, [](C g, C x) KILN_LAMBDA_INLINE {
        const C cdf = C(0.5) * (C(1) + erf_c(x * C(kSqrt1_2)));
        const C pdf = C(kInvSqrt2Pi) * std::exp(C(-0.5) * x * x);
        return g * (cdf + x * pdf);
      });
    case BinaryOp::gelu_tanh_grad:
      return binary_map<T>(a, b, out, [](C g, C x) KILN_LAMBDA_INLINE {
        const C t = tanh_c(C(kSqrt2_Pi) * (x + C(0.044715) * x * x * x));
        const C du = C(kSqrt2_Pi) * (C(1) + C(3 * 0.044715) * x * x);
        return g * (C(0.5) * (C(1) + t) + C(0.5) * x * (C(1) - t * t) * du);
      });
    case BinaryOp::silu_grad:
      return binary_map<T>(a, b, out, [](C g, C x) KILN_LAMBDA_INLINE {
        const C s = sigmoid_c(x);
        return g * s * (C(1) + x * (C(1) - s));
      });
    case BinaryOp::sigmoid_grad_from_y: return binary_map<T>(a, b, out, [](C g, C y) KILN_LAMBDA_INLINE { return g * y * (C(1) - y); });
    case BinaryOp::tanh_grad_from_y: return binary_map<T>(a, b, out, [](C g, C y) KILN_LAMBDA_INLINE { return g * (C(1) - y * y); });
  }
}

template <class T>
void binary_int(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  switch (op) {
    case BinaryOp::add: return map2<T, T>(out, a, b, [](T x, T y) KILN_LAMBDA_INLINE { return static_cast<T>(x + y); });
    case BinaryOp::sub: return map2<T, T>(out, a, b, [](T x, T y) KILN_LAMBDA_INLINE { return static_cast<T>(x - y); });
    case BinaryOp::mul: return map2<T, T>(out, a, b, [](T x, T y) KILN_LAMBDA_INLINE { return static_cast<T>(x * y); });
    case BinaryOp::maximum: return map2<T, T>(out, a, b, [](T x, T y) KILN_LAMBDA_INLINE { return x > y ? x : y; });
    case BinaryOp::minimum: return map2<T, T>(out, a, b, [](T x, T y) KILN_LAMBDA_INLINE { return x < y ? x : y; });
    case BinaryOp::div: {
      // Integer division by zero is undefined in C++: check before entering the parallel loop.
      bool any_zero = false;
      for (const T v : b.to_vector<T>()) any_zero = any_zero || v == 0;
      if (any_zero) throw Error("div: integer division by zero in " + b.str());
      return map2<T, T>(out, a, b, [](T x, T y) KILN_LAMBDA_INLINE { return static_cast<T>(x / y); });
    }
    default:
      throw Error(std::string("binary op ") + std::to_string(static_cast<int>(op)) + " is not defined for " +
                  dtype_name(dtype_v<T>) + " tensors");
  }
}

// ---- compare / where ------------------------------------------------------------
template <class T>
void compare_kernel(CompareOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  using C = compute_t<T>;
  auto run = [&](auto f) { map2<bool, T>(out, a, b, [f](T x, T y) KILN_LAMBDA_INLINE { return f(load(x), load(y)); }); };
  switch (op) {
    case CompareOp::eq: return run([](C x, C y) KILN_LAMBDA_INLINE { return x == y; });
    case CompareOp::ne: return run([](C x, C y) KILN_LAMBDA_INLINE { return x != y; });
    case CompareOp::lt: return run([](C x, C y) KILN_LAMBDA_INLINE { return x < y; });
    case CompareOp::le: return run([](C x, C y) KILN_LAMBDA_INLINE { return x <= y; });
    case CompareOp::gt: return run([](C x, C y) KILN_LAMBDA_INLINE { return x > y; });
    case CompareOp::ge: return run([](C x, C y) KILN_LAMBDA_INLINE { return x >= y; });
  }
}

template <class T>
void where_kernel(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const auto plan = make_plan<4>({&out, &cond, &a, &b});
  for_each_strided(plan, [&](const std::array<char*, 4>& p, const std::array<std::int64_t, 4>& st, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
      const bool c = *reinterpret_cast<const bool*>(p[1] + i * st[1]);
      *reinterpret_cast<T*>(p[0] + i * st[0]) = *reinterpret_cast<const T*>(p[c ? 2 : 3] + i * st[c ? 2 : 3]);
    }
  });
}

}  // namespace

void register_elementwise_kernels() {
  constexpr auto cpu = DeviceKind::cpu;
  visit_all_dtypes([&](auto t) {
    using T = decltype(t);
    copy_kernels().set(cpu, dtype_v<T>, &copy_kernel<T>);
    fill_kernels().set(cpu, dtype_v<T>, &fill_kernel<T>);
    where_kernels().set(cpu, dtype_v<T>, &where_kernel<T>);
    compare_kernels().set(cpu, dtype_v<T>, &compare_kernel<T>);
  });
  visit_float_dtypes([&](auto t) {
    using T = decltype(t);
    unary_kernels().set(cpu, dtype_v<T>, &unary_float<T>);
    binary_kernels().set(cpu, dtype_v<T>, &binary_float<T>);
  });
  unary_kernels().set(cpu, DType::i32, &unary_int<std::int32_t>);
  unary_kernels().set(cpu, DType::i64, &unary_int<std::int64_t>);
  binary_kernels().set(cpu, DType::i32, &binary_int<std::int32_t>);
  binary_kernels().set(cpu, DType::i64, &binary_int<std::int64_t>);
}

}  // namespace kiln::cpu
