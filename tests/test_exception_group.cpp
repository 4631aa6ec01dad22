// asyncio-cpp: SPDX-License-Identifier: MIT
// ExceptionGroup::split()/subgroup() and except_star(): ports of CPython's
// Lib/test/test_exception_group.py and Lib/test/test_except_star.py, each
// named after its CPython test. The exceptions are shown as CPython's
// templates are written: EG('message', [ValueError(1), ...]).
#include <asyncio/exceptions.hpp>

#include <gtest/gtest.h>

#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using asyncio::ExceptionGroup;
using asyncio::catching;
using asyncio::except_star;

namespace {

struct ValueError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct OSError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct BlockingIOError : OSError {
  using OSError::OSError;
};
struct SyntaxError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct KeyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class E>
std::exception_ptr make(const std::string& what) {
  return std::make_exception_ptr(E(what));
}
std::exception_ptr eg(const std::string& message, std::vector<std::exception_ptr> excs) {
  return std::make_exception_ptr(ExceptionGroup(message, std::move(excs)));
}

std::string name_of(const std::exception& e) {
  if (dynamic_cast<const BlockingIOError*>(&e)) return "BlockingIOError";
  if (dynamic_cast<const OSError*>(&e)) return "OSError";
  if (dynamic_cast<const ValueError*>(&e)) return "ValueError";
  if (dynamic_cast<const TypeError*>(&e)) return "TypeError";
  if (dynamic_cast<const SyntaxError*>(&e)) return "SyntaxError";
  if (dynamic_cast<const KeyError*>(&e)) return "KeyError";
  return "?";
}

/// `e` as CPython's test templates write it; None when null.
std::string shape(const std::exception_ptr& e) {
  if (!e) return "None";
  try {
    std::rethrow_exception(e);
  } catch (const ExceptionGroup& g) {
    std::string s = "EG('" + g.message() + "', [";
    for (std::size_t i = 0; i < g.exceptions().size(); ++i) {
      if (i) s += ", ";
      s += shape(g.exceptions()[i]);
    }
    return s + "])";
  } catch (const std::exception& x) {
    return name_of(x) + "(" + x.what() + ")";
  }
}
std::string shape(const std::optional<ExceptionGroup>& g) {
  return g ? shape(std::make_exception_ptr(*g)) : "None";
}

/// A copy of the group in `e` (it shares the members).
ExceptionGroup group(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const ExceptionGroup& g) {
    return g;
  }
  return ExceptionGroup("not a group", {});
}

/// ≙ create_simple_eg(): EG('simple eg', [ValueError(1), TypeError(int), ValueError(2)]).
std::exception_ptr simple_eg() {
  return eg("simple eg", {make<ValueError>("1"), make<TypeError>("int"), make<ValueError>("2")});
}
const std::string simple = "EG('simple eg', [ValueError(1), TypeError(int), ValueError(2)])";

/// What except_star() lets out, null if nothing.
template <class... C>
std::exception_ptr star(const std::exception_ptr& e, C... clauses) {
  try {
    except_star(e, clauses...);
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

// ---- split / subgroup (test_exception_group.py) ----------------------------

TEST(ExceptionGroupSubgroupTests, test_basics_subgroup_by_type__passthrough) {
  const ExceptionGroup& g = group(simple_eg());
  EXPECT_EQ(shape(g.subgroup<std::exception>()), simple);
  EXPECT_EQ(shape(g.subgroup<std::runtime_error>()), simple);
  EXPECT_EQ(shape(g.subgroup<ExceptionGroup>()), simple);
  // The members are the group's own (nothing copied but the group).
  EXPECT_EQ(g.subgroup<ExceptionGroup>()->exceptions(), g.exceptions());
}

TEST(ExceptionGroupSubgroupTests, test_basics_subgroup_by_type__no_match) {
  EXPECT_FALSE(group(simple_eg()).subgroup<OSError>());
}

TEST(ExceptionGroupSubgroupTests, test_basics_subgroup_by_type__match) {
  const ExceptionGroup& g = group(simple_eg());
  EXPECT_EQ(shape(g.subgroup<ValueError>()), "EG('simple eg', [ValueError(1), ValueError(2)])");
  EXPECT_EQ(shape(g.subgroup<TypeError>()), "EG('simple eg', [TypeError(int)])");
  EXPECT_EQ(g.subgroup<ValueError>()->message(), "simple eg");
}

TEST(ExceptionGroupSubgroupTests, test_basics_subgroup_by_predicate__passthrough) {
  EXPECT_EQ(shape(group(simple_eg()).subgroup([](const std::exception_ptr&) { return true; })), simple);
}

TEST(ExceptionGroupSubgroupTests, test_basics_subgroup_by_predicate__no_match) {
  EXPECT_FALSE(group(simple_eg()).subgroup([](const std::exception_ptr&) { return false; }));
}

TEST(ExceptionGroupSubgroupTests, test_basics_subgroup_by_predicate__match) {
  const ExceptionGroup& g = group(simple_eg());
  auto either = [](const std::exception_ptr& e) {
    return asyncio::holds_exception<ValueError>(e) || asyncio::holds_exception<TypeError>(e);
  };
  EXPECT_EQ(shape(g.subgroup(&asyncio::holds_exception<ValueError>)),
            "EG('simple eg', [ValueError(1), ValueError(2)])");
  EXPECT_EQ(shape(g.subgroup(either)), simple);
}

TEST(ExceptionGroupSplitTests, test_basics_split_by_type__passthrough) {
  const ExceptionGroup& g = group(simple_eg());
  for (const ExceptionGroup::Split& s : {g.split<std::exception>(), g.split<ExceptionGroup>()}) {
    EXPECT_EQ(shape(s.match), simple);
    EXPECT_FALSE(s.rest);
  }
}

TEST(ExceptionGroupSplitTests, test_basics_split_by_type__no_match) {
  ExceptionGroup::Split s = group(simple_eg()).split<OSError>();
  EXPECT_FALSE(s.match);
  EXPECT_EQ(shape(s.rest), simple);
}

TEST(ExceptionGroupSplitTests, test_basics_split_by_type__match) {
  const ExceptionGroup& g = group(simple_eg());
  ExceptionGroup::Split ve = g.split<ValueError>();
  EXPECT_EQ(shape(ve.match), "EG('simple eg', [ValueError(1), ValueError(2)])");
  EXPECT_EQ(shape(ve.rest), "EG('simple eg', [TypeError(int)])");
  ExceptionGroup::Split te = g.split<TypeError>();
  EXPECT_EQ(shape(te.match), "EG('simple eg', [TypeError(int)])");
  EXPECT_EQ(shape(te.rest), "EG('simple eg', [ValueError(1), ValueError(2)])");
}

TEST(ExceptionGroupSplitTests, test_basics_split_by_predicate__match) {
  ExceptionGroup::Split s = group(simple_eg()).split(&asyncio::holds_exception<TypeError>);
  EXPECT_EQ(shape(s.match), "EG('simple eg', [TypeError(int)])");
  EXPECT_EQ(shape(s.rest), "EG('simple eg', [ValueError(1), ValueError(2)])");
}

TEST(NestedExceptionGroupSplitTest, test_split_by_type) {
  // ≙ level3(5): msg3 [msg2 [msg1 [VE6, TEint, VE7], msg1 [VE7, TEint, VE8], VE8], VE7].
  auto level1 = [](int i) {
    return eg("msg1", {make<ValueError>(std::to_string(i)), make<TypeError>("int"),
                       make<ValueError>(std::to_string(i + 1))});
  };
  const std::exception_ptr level2 = eg("msg2", {level1(6), level1(7), make<ValueError>("8")});
  const std::exception_ptr whole = eg("msg3", {level2, make<ValueError>("7")});
  const ExceptionGroup& g = group(whole);
  const std::string all =
      "EG('msg3', [EG('msg2', [EG('msg1', [ValueError(6), TypeError(int), ValueError(7)]), "
      "EG('msg1', [ValueError(7), TypeError(int), ValueError(8)]), ValueError(8)]), ValueError(7)])";
  const std::string values =
      "EG('msg3', [EG('msg2', [EG('msg1', [ValueError(6), ValueError(7)]), EG('msg1', [ValueError(7), "
      "ValueError(8)]), ValueError(8)]), ValueError(7)])";
  const std::string types = "EG('msg3', [EG('msg2', [EG('msg1', [TypeError(int)]), EG('msg1', [TypeError(int)])])])";
  EXPECT_EQ(shape(whole), all);

  ExceptionGroup::Split nothing = g.split<SyntaxError>();
  EXPECT_FALSE(nothing.match);
  EXPECT_EQ(shape(nothing.rest), all);

  ExceptionGroup::Split v = g.split<ValueError>();
  EXPECT_EQ(shape(v.match), values);
  EXPECT_EQ(shape(v.rest), types);

  ExceptionGroup::Split t = g.split<TypeError>();
  EXPECT_EQ(shape(t.match), types);
  EXPECT_EQ(shape(t.rest), values);

  // A nested group that matches as a whole is kept as it is.
  ExceptionGroup::Split first = g.split([&](const std::exception_ptr& e) { return e == level2; });
  ASSERT_TRUE(first.match);
  EXPECT_EQ(first.match->exceptions().front(), level2);
  EXPECT_EQ(shape(first.rest), "EG('msg3', [ValueError(7)])");
}

TEST(ExceptionGroupSplitTests, EmptyGroupsAreDroppedFromBothParts) {
  // ≙ test_except_star.py test_empty_groups_removed, on split() itself.
  const std::exception_ptr e = eg("eg", {eg("i1", {make<ValueError>("V1")}),
                                         eg("i2", {make<ValueError>("V2"), make<TypeError>("T1")}),
                                         eg("i3", {make<TypeError>("T2")})});
  ExceptionGroup::Split s = group(e).split<TypeError>();
  EXPECT_EQ(shape(s.match), "EG('eg', [EG('i2', [TypeError(T1)]), EG('i3', [TypeError(T2)])])");
  EXPECT_EQ(shape(s.rest), "EG('eg', [EG('i1', [ValueError(V1)]), EG('i2', [ValueError(V2)])])");
}

// ---- except* (test_except_star.py) ------------------------------------------

/// ≙ doSplitTestNamed: the clause `except* T` gets `match`, `rest` escapes.
template <class T>
void split_test(const std::exception_ptr& e, const std::string& match, const std::string& rest) {
  std::exception_ptr got;
  std::exception_ptr escaped = star(e, catching<T>([&](const ExceptionGroup& g) { got = std::make_exception_ptr(g); }));
  EXPECT_EQ(shape(got), match);
  EXPECT_EQ(shape(escaped), rest);
}

TEST(TestExceptStarSplitSemantics, test_no_match_single_type) {
  split_test<SyntaxError>(eg("test1", {make<ValueError>("V"), make<TypeError>("T")}), "None",
                          "EG('test1', [ValueError(V), TypeError(T)])");
}

TEST(TestExceptStarSplitSemantics, test_match_single_type) {
  split_test<ValueError>(eg("test2", {make<ValueError>("V1"), make<ValueError>("V2")}),
                         "EG('test2', [ValueError(V1), ValueError(V2)])", "None");
}

TEST(TestExceptStarSplitSemantics, test_match_single_type_partial_match) {
  split_test<ValueError>(eg("test3", {make<ValueError>("V1"), make<OSError>("OS"), make<ValueError>("V2")}),
                         "EG('test3', [ValueError(V1), ValueError(V2)])", "EG('test3', [OSError(OS)])");
}

TEST(TestExceptStarSplitSemantics, test_empty_groups_removed) {
  split_test<TypeError>(eg("eg", {eg("i1", {make<ValueError>("V1")}),
                                  eg("i2", {make<ValueError>("V2"), make<TypeError>("T1")}),
                                  eg("i3", {make<TypeError>("T2")})}),
                        "EG('eg', [EG('i2', [TypeError(T1)]), EG('i3', [TypeError(T2)])])",
                        "EG('eg', [EG('i1', [ValueError(V1)]), EG('i2', [ValueError(V2)])])");
}

TEST(TestExceptStarSplitSemantics, test_singleton_groups_are_kept) {
  split_test<TypeError>(eg("j1", {eg("j2", {eg("j3", {make<ValueError>("V1")}), eg("j4", {make<TypeError>("T")})})}),
                        "EG('j1', [EG('j2', [EG('j4', [TypeError(T)])])])",
                        "EG('j1', [EG('j2', [EG('j3', [ValueError(V1)])])])");
}

TEST(TestExceptStarSplitSemantics, test_naked_exception_matched_wrapped1) {
  split_test<ValueError>(make<ValueError>("V"), "EG('', [ValueError(V)])", "None");
}

TEST(TestExceptStarSplitSemantics, test_naked_exception_matched_wrapped2) {
  split_test<std::exception>(make<ValueError>("V"), "EG('', [ValueError(V)])", "None");
}

TEST(TestExceptStarSplitSemantics, test_exception_group_except_star_Exception_not_wrapped) {
  split_test<std::exception>(eg("eg", {make<ValueError>("V")}), "EG('eg', [ValueError(V)])", "None");
}

TEST(TestExceptStarSplitSemantics, test_plain_exception_not_matched) {
  const std::exception_ptr v = make<ValueError>("V");
  split_test<TypeError>(v, "None", "ValueError(V)");
  EXPECT_EQ(star(v, catching<TypeError>([](const ExceptionGroup&) {})), v);  // the same exception
}

TEST(TestExceptStarSplitSemantics, test_match__supertype) {
  split_test<OSError>(eg("st", {make<BlockingIOError>("io"), make<TypeError>("T")}), "EG('st', [BlockingIOError(io)])",
                      "EG('st', [TypeError(T)])");
}

TEST(TestExceptStarSplitSemantics, test_multiple_matches_named) {
  std::string io, os;
  std::exception_ptr out = star(eg("mmn", {make<OSError>("os"), make<BlockingIOError>("io")}),
                                catching<BlockingIOError>([&](const ExceptionGroup& g) { io = shape(std::make_exception_ptr(g)); }),
                                catching<OSError>([&](const ExceptionGroup& g) { os = shape(std::make_exception_ptr(g)); }));
  EXPECT_EQ(io, "EG('mmn', [BlockingIOError(io)])");
  EXPECT_EQ(os, "EG('mmn', [OSError(os)])");
  EXPECT_FALSE(out);
}

TEST(TestExceptStarSplitSemantics, test_first_match_wins_named) {
  std::string os;
  bool second = false;
  std::exception_ptr out = star(eg("fst", {make<BlockingIOError>("io")}),
                                catching<OSError>([&](const ExceptionGroup& g) { os = shape(std::make_exception_ptr(g)); }),
                                catching<BlockingIOError>([&](const ExceptionGroup&) { second = true; }));
  EXPECT_EQ(os, "EG('fst', [BlockingIOError(io)])");
  EXPECT_FALSE(second);
  EXPECT_FALSE(out);
}

TEST(TestExceptStarReraise, test_reraise_all_named) {
  const std::exception_ptr orig = eg("eg", {make<TypeError>("1"), make<ValueError>("2"), make<OSError>("3")});
  std::exception_ptr out = star(orig, catching<TypeError>([](const ExceptionGroup&) { throw; }),
                                catching<ValueError>([](const ExceptionGroup&) { throw; }));
  EXPECT_EQ(shape(out), "EG('eg', [TypeError(1), ValueError(2), OSError(3)])");
  EXPECT_EQ(out, orig);  // every exception re-raised or left: the original itself
}

TEST(TestExceptStarReraise, test_reraise_partial_handle_some_named) {
  std::exception_ptr out = star(eg("eg", {make<TypeError>("1"), make<ValueError>("2"), make<OSError>("3")}),
                                catching<TypeError>([](const ExceptionGroup&) { throw; }),
                                catching<ValueError>([](const ExceptionGroup&) {}));
  EXPECT_EQ(shape(out), "EG('eg', [TypeError(1), OSError(3)])");
}

TEST(TestExceptStarReraise, test_reraise_plain_exception_named) {
  std::exception_ptr out = star(make<ValueError>("42"), catching<ValueError>([](const ExceptionGroup&) { throw; }));
  EXPECT_EQ(shape(out), "EG('', [ValueError(42)])");
}

TEST(TestExceptStarRaise, test_raise_named) {
  std::exception_ptr out = star(eg("eg", {make<ValueError>("1"), make<OSError>("2")}),
                                catching<OSError>([](const ExceptionGroup&) { throw TypeError("3"); }));
  EXPECT_EQ(shape(out), "EG('', [TypeError(3), EG('eg', [ValueError(1)])])");
}

TEST(TestExceptStarRaise, test_raise_handle_all_raise_one_named) {
  std::exception_ptr out = star(eg("eg", {make<TypeError>("1"), make<ValueError>("2")}),
                                catching<TypeError>([](const ExceptionGroup&) { throw SyntaxError("3"); }),
                                catching<ValueError>([](const ExceptionGroup&) {}));
  EXPECT_EQ(shape(out), "SyntaxError(3)");
}

TEST(TestExceptStarRaise, test_raise_handle_all_raise_two_named) {
  std::exception_ptr out = star(eg("eg", {make<TypeError>("1"), make<ValueError>("2")}),
                                catching<TypeError>([](const ExceptionGroup&) { throw SyntaxError("3"); }),
                                catching<ValueError>([](const ExceptionGroup&) { throw KeyError("4"); }));
  EXPECT_EQ(shape(out), "EG('', [SyntaxError(3), KeyError(4)])");
}

TEST(TestExceptStarRaise, RaiseAfterANakedMatchIsNotWrapped) {
  // ≙ _PyExc_PrepReraiseStar on a lone exception: what the one clause
  // raised comes out as it is.
  std::exception_ptr out = star(make<ValueError>("V"), catching<ValueError>([](const ExceptionGroup&) { throw KeyError("k"); }));
  EXPECT_EQ(shape(out), "KeyError(k)");
}

TEST(ExceptStar, NothingThrownNothingDone) {
  int calls = 0;
  EXPECT_FALSE(star(nullptr, catching<ValueError>([&](const ExceptionGroup&) { ++calls; })));
  EXPECT_EQ(calls, 0);
}

}  // namespace
