// lbctl: the operator CLI for the json-tcp-lb control API.
#include <iostream>

#include "cli/interrupt.h"
#include "cli/lbctl.h"

int main(int argc, char** argv) {
  jsontcplb::cli::install_interrupt_handler();
  return jsontcplb::cli::run_lbctl({argv + 1, static_cast<std::size_t>(argc - 1)}, std::cout,
                                   std::cerr);
}
