// Boost.JSON compiled once for the integration tests (they parse responses with it).
#include <boost/json/src.hpp>
