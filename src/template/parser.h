// Builds the statement tree from tokens, following jinja2's grammar (parser.py) including its
// compile-time checks (unknown filters/tests, `break` outside a loop). Recursion is
// depth-limited so hostile templates cannot exhaust the stack.
#pragma once

#include <vector>

#include "template/ast.h"
#include "template/lexer.h"

namespace ollmlx::tmpl {

inline constexpr int kMaxParseDepth = 200;
// Height limit of one expression tree: left-associative chains (a + b + c ..., x|f|g ...)
// grow the tree without parser recursion.
inline constexpr int kMaxExprDepth = 200;

// Throws Failure(Syntax) with the offending token's position.
Body parse_template(const std::vector<Token>& tokens);

}  // namespace ollmlx::tmpl
