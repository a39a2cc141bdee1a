// Functions a spawned or forkserver child can run, registered by name.
//
// A spawned child is a fresh run of this program: it cannot receive a
// closure, only the name of a function it knows and serialized arguments.
// Register such a function once, at namespace scope, in any .cc file of the
// program:
//
//   int scale(std::vector<int> v, int k) { ... return 0; }
//   MR_REGISTER_FUNCTION(scale);
//
//   mr::Process p({.start_method = mr::StartMethod::kSpawn},
//                 mr::target<&scale>, std::vector<int>{1, 2}, 3);
//
// The registered name is the macro argument as written ("scale", or
// "ns::scale" for MR_REGISTER_FUNCTION(ns::scale)). A registered function
// returns void (exit code 0) or something convertible to int (the exit
// code); its parameters are taken by value or const reference and their
// decayed types must be mr::Serializable (checked at compile time).
//
// Thread-safety: registration happens during static initialization; lookups
// afterwards are read-only and thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "mr/base/serialize.h"

namespace mr {

// Names a registered function by address, for Process(mr::target<&fn>, ...).
template <auto Fn>
struct Target {
  static_assert(std::is_pointer_v<decltype(Fn)> &&
                    std::is_function_v<std::remove_pointer_t<decltype(Fn)>>,
                "mr::target<&fn>: fn must be a (non-member) function");
};
template <auto Fn>
inline constexpr Target<Fn> target{};

namespace detail {

// Deserializes the arguments, calls the function, returns the exit code.
// Exceptions (including SerializationError) propagate to the caller.
using Invoker = int (*)(std::string_view args);
using FunctionAddress = void (*)();

struct RegisteredFunction {
  std::string name;
  Invoker invoke;
  FunctionAddress address;
  std::string signature;  // mangled decayed parameter types, ',' separated
};

template <class F>
struct FunctionTraits;
template <class R, class... P>
struct FunctionTraits<R (*)(P...)> {
  using Result = R;
  using Params = std::tuple<P...>;
  using Decayed = std::tuple<std::decay_t<P>...>;
  static constexpr std::size_t kArity = sizeof...(P);
};
template <class R, class... P>
struct FunctionTraits<R (*)(P...) noexcept> : FunctionTraits<R (*)(P...)> {};

template <class... T>
std::string signature_of() {
  std::string s;
  ((s += typeid(T).name(), s += ','), ...);
  return s;
}

template <class Tuple>
struct SignatureOfTuple;
template <class... T>
struct SignatureOfTuple<std::tuple<T...>> {
  static std::string get() { return signature_of<T...>(); }
};

template <class T>
inline constexpr bool kParamOk = Serializable<T>&& std::is_default_constructible_v<T>;

template <class Tuple>
struct ParamsOk;
template <class... T>
struct ParamsOk<std::tuple<T...>> {
  static constexpr bool value = (kParamOk<T> && ...);
};

template <auto Fn, std::size_t... I>
int call_with(typename FunctionTraits<decltype(Fn)>::Decayed& args, std::index_sequence<I...>) {
  using Traits = FunctionTraits<decltype(Fn)>;
  using R = typename Traits::Result;
  if constexpr (std::is_void_v<R>) {
    Fn(std::forward<std::tuple_element_t<I, typename Traits::Params>>(std::get<I>(args))...);
    return 0;
  } else {
    return static_cast<int>(
        Fn(std::forward<std::tuple_element_t<I, typename Traits::Params>>(std::get<I>(args))...));
  }
}

template <auto Fn>
int invoke_registered(std::string_view bytes) {
  using Traits = FunctionTraits<decltype(Fn)>;
  auto args = from_bytes<typename Traits::Decayed>(bytes);
  return call_with<Fn>(args, std::make_index_sequence<Traits::kArity>{});
}

// Adds a function to the registry; called by MR_REGISTER_FUNCTION during
// static initialization. A name registered twice is remembered as
// ambiguous: using it throws std::invalid_argument.
bool add_function(RegisteredFunction fn) noexcept;

template <auto Fn>
bool register_function(const char* name) noexcept {
  static_assert(
      std::is_pointer_v<decltype(Fn)> && std::is_function_v<std::remove_pointer_t<decltype(Fn)>>,
      "MR_REGISTER_FUNCTION(fn): fn must name one non-member, non-overloaded function");
  using Traits = FunctionTraits<decltype(Fn)>;
  using R = typename Traits::Result;
  static_assert(std::is_void_v<R> || std::is_convertible_v<R, int>,
                "MR_REGISTER_FUNCTION(fn): fn must return void or an exit code (convertible "
                "to int)");
  static_assert(ParamsOk<typename Traits::Decayed>::value,
                "MR_REGISTER_FUNCTION(fn): every parameter type of fn (decayed) must be "
                "mr::Serializable and default-constructible: the arguments travel serialized to "
                "a spawned child (see mr/base/serialize.h)");
  return add_function({name, &invoke_registered<Fn>, reinterpret_cast<FunctionAddress>(Fn),
                       SignatureOfTuple<typename Traits::Decayed>::get()});
}

// The registered function named `name`; throws std::invalid_argument if
// none (or two) is registered under it, or if `signature` (the caller's
// argument types) differs from its parameters.
const RegisteredFunction& find_function_checked(std::string_view name,
                                                const std::string& signature);
// The registered function at `address`, or throws std::invalid_argument.
const RegisteredFunction& find_function_by_address(FunctionAddress address);
// Lookup in a spawned child: nullptr if unknown.
const RegisteredFunction* find_function(std::string_view name) noexcept;

template <auto Fn>
const RegisteredFunction& find_function_checked() {
  return find_function_by_address(reinterpret_cast<FunctionAddress>(Fn));
}

template <class... Args>
std::string encode_args(Args&&... args) {
  static_assert((Serializable<std::decay_t<Args>> && ...),
                "mr::Process(name, args...): every argument must be mr::Serializable: it "
                "travels serialized to the child (see mr/base/serialize.h); pass a std::string "
                "rather than a const char*");
  Writer w;
  (save(w, args), ...);
  return w.take();
}

template <class Decayed, std::size_t I, class Arg>
void check_target_arg() {
  using P = std::tuple_element_t<I, Decayed>;
  static_assert(std::is_constructible_v<P, Arg>,
                "mr::Process(mr::target<&fn>, args...): an argument does not convert to the "
                "type of fn's parameter at the same position");
}

template <auto Fn, class... Args, std::size_t... I>
std::string encode_target_args_impl(std::index_sequence<I...>, Args&&... args) {
  using Decayed = typename FunctionTraits<decltype(Fn)>::Decayed;
  (check_target_arg<Decayed, I, Args&&>(), ...);
  if constexpr ((std::is_constructible_v<std::tuple_element_t<I, Decayed>, Args&&> && ...)) {
    Writer w;
    (save(w, static_cast<std::tuple_element_t<I, Decayed>>(std::forward<Args>(args))), ...);
    return w.take();
  } else {
    return {};
  }
}

template <auto Fn, class... Args>
std::string encode_target_args(Args&&... args) {
  static_assert(
      std::is_pointer_v<decltype(Fn)> && std::is_function_v<std::remove_pointer_t<decltype(Fn)>>,
      "mr::target<&fn>: fn must be a (non-member) function");
  using Traits = FunctionTraits<decltype(Fn)>;
  static_assert(ParamsOk<typename Traits::Decayed>::value,
                "mr::Process(mr::target<&fn>, ...): every parameter type of fn (decayed) must "
                "be mr::Serializable and default-constructible (see mr/base/serialize.h)");
  static_assert(Traits::kArity == sizeof...(Args),
                "mr::Process(mr::target<&fn>, args...): wrong number of arguments for fn");
  if constexpr (Traits::kArity == sizeof...(Args) && ParamsOk<typename Traits::Decayed>::value) {
    return encode_target_args_impl<Fn>(std::index_sequence_for<Args...>{},
                                       std::forward<Args>(args)...);
  } else {
    return {};
  }
}

}  // namespace detail
}  // namespace mr

#define MR_DETAIL_CONCAT2(a, b) a##b
#define MR_DETAIL_CONCAT(a, b) MR_DETAIL_CONCAT2(a, b)

// Registers `fn` (a function name, possibly qualified) for spawn and
// forkserver children under the name written. Use at namespace scope.
#define MR_REGISTER_FUNCTION(fn)                                                  \
  [[maybe_unused]] static const bool MR_DETAIL_CONCAT(mr_registered_, __LINE__) = \
      ::mr::detail::register_function<&fn>(#fn)
