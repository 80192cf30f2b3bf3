#include "analyzer/routes/route_template.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ta::analyzer::routes {
namespace {

TEST(RouteTemplateTest, TargetPathKeepsOnlyThePath) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"/", "/"},
      {"/a/b?x=1&y=2", "/a/b"},
      {"/a/b#frag", "/a/b"},
      {"/a?q#f", "/a"},
      {"/?q", "/"},
      {"http://example.com/p/q?x", "/p/q"},
      {"HTTPS://example.com:8443/p", "/p"},
      {"http://example.com", ""},
      {"http://example.com?x=/y", ""},
      {"*", "*"},
      {"example.com:443", ""},  // authority-form (CONNECT)
      {"/a%2Fb/c", "/a%2Fb/c"},
  };
  for (const auto& [target, path] : cases) EXPECT_EQ(TargetPath(target), path) << target;
}

TEST(RouteTemplateTest, IdentifierSegments) {
  for (std::string_view id : {
           "0", "42", "1234567890123456789012",
           "123e4567-e89b-12d3-a456-426614174000",  // UUID
           "123E4567-E89B-12D3-A456-426614174000",
           "deadbeefdeadbeef",  // 16 hex
           "0123456789abcdef0123456789abcdef",
           "dGhpcyBpcyBhIHRva2Vu2",                // base64-like with digits
           "order-2024-01-15-x9",                  // long and mixed
           "123e4567-e89b-12d3-a456-42661417400",  // not a UUID, but long and mixed
       }) {
    EXPECT_TRUE(IsIdentifierSegment(id)) << id;
  }
  for (std::string_view word : {
           "",
           "users",
           "v2",
           "page1",
           "deadbeef",               // short hex is a word
           "averyveryverylongword",  // long, letters only
           "----------------",       // long, neither
           "12ab",
       }) {
    EXPECT_FALSE(IsIdentifierSegment(word)) << word;
  }
}

TEST(RouteTemplateTest, TemplatePathReplacesIdentifierSegments) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"", "/"},
      {"/", "/"},
      {"/users", "/users"},
      {"/users/", "/users/"},
      {"/users/42", "/users/{id}"},
      {"/users/42/orders/123e4567-e89b-12d3-a456-426614174000", "/users/{id}/orders/{id}"},
      {"/v2/blobs/0123456789abcdef0123", "/v2/blobs/{id}"},
      {"/a//7", "/a//{id}"},
      {"/files/%41%42", "/files/%41%42"},
      {"*", "*"},
  };
  for (const auto& [path, route] : cases) EXPECT_EQ(TemplatePath(path), route) << path;
}

TEST(RouteTemplateTest, ConfiguredPatternsWinInOrder) {
  RouteTemplater t({{0, "/api/users/{id}/orders"},
                    {8080, "/api/{tenant}/items/{item}"},
                    {0, "/api/{any}/items/{item}"},
                    {0, "/static/{file}"},
                    {0, "/"}},
                   1000);
  EXPECT_EQ(t.Route(80, "/api/users/alice/orders?page=2"), "/api/users/{id}/orders");
  EXPECT_EQ(t.Route(80, "/api/users/42/orders"), "/api/users/{id}/orders");
  EXPECT_EQ(t.Route(8080, "/api/acme/items/hammer"), "/api/{tenant}/items/{item}");
  EXPECT_EQ(t.Route(80, "/api/acme/items/hammer"), "/api/{any}/items/{item}");
  EXPECT_EQ(t.Route(80, "/static/app.js"), "/static/{file}");
  EXPECT_EQ(t.Route(80, "/?x=1"), "/");
  // A wildcard matches exactly one non-empty segment.
  EXPECT_EQ(t.Route(80, "/static/js/app.js"), "/static/js/app.js");
  EXPECT_EQ(t.Route(80, "/static/"), "/static/");
  EXPECT_EQ(t.Route(80, "/api/users/42/orders/7"), "/api/users/{id}/orders/{id}");
  // Literal segments are case-sensitive.
  EXPECT_EQ(t.Route(80, "/API/users/42/orders"), "/API/users/{id}/orders");
}

TEST(RouteTemplateTest, RoutesOfOtherFormsOfTarget) {
  RouteTemplater t({}, 1000);
  EXPECT_EQ(t.Route(80, "http://example.com/users/17?x"), "/users/{id}");
  EXPECT_EQ(t.Route(80, "*"), "*");
  EXPECT_EQ(t.Route(443, "example.com:443"), "/");
}

TEST(RouteTemplateTest, CapsDistinctRoutesPerPort) {
  RouteTemplater t({{0, "/health"}}, 3);
  EXPECT_EQ(t.Route(80, "/a"), "/a");
  EXPECT_EQ(t.Route(80, "/b/1"), "/b/{id}");
  EXPECT_EQ(t.Route(80, "/b/2"), "/b/{id}");  // same route, not a new one
  EXPECT_EQ(t.Route(80, "/c"), "/c");
  EXPECT_EQ(t.Route(80, "/d"), kOverflowRoute);
  EXPECT_EQ(t.Route(80, "/e?x"), kOverflowRoute);
  EXPECT_EQ(t.Route(80, "/a?again"), "/a");      // known routes keep working
  EXPECT_EQ(t.Route(80, "/health"), "/health");  // patterns are bounded by config, not capped
  EXPECT_EQ(t.Route(8080, "/d"), "/d");          // the cap is per port
  EXPECT_EQ(t.distinct_routes(80), 3u);
  EXPECT_EQ(t.distinct_routes(8080), 1u);
  EXPECT_EQ(t.overflowed(), 2u);
}

// The route and the object id one call returns.
std::pair<std::string, std::string> RouteAndId(RouteTemplater& t, uint16_t port,
                                               std::string_view target) {
  std::string id = "stale";  // must be overwritten, also when there is no id
  std::string route = t.Route(port, target, &id);
  return {route, id};
}

using RouteId = std::pair<std::string, std::string>;

TEST(RouteTemplateTest, ObjectIdHoldsTheReplacedSegments) {
  RouteTemplater t({}, 1000);
  EXPECT_EQ(RouteAndId(t, 80, "/users/42"), RouteId("/users/{id}", "42"));
  EXPECT_EQ(RouteAndId(t, 80, "/users/42?fields=name#top"), RouteId("/users/{id}", "42"));
  EXPECT_EQ(RouteAndId(t, 80, "/orders/123e4567-e89b-12d3-a456-426614174000/items"),
            RouteId("/orders/{id}/items", "123e4567-e89b-12d3-a456-426614174000"));
  EXPECT_EQ(RouteAndId(t, 80, "/blobs/0123456789ABCDEF0123"),
            RouteId("/blobs/{id}", "0123456789ABCDEF0123"));
  EXPECT_EQ(RouteAndId(t, 80, "/users/12/orders/34"), RouteId("/users/{id}/orders/{id}", "12/34"));
  EXPECT_EQ(RouteAndId(t, 80, "http://example.com/users/7?x=1"), RouteId("/users/{id}", "7"));
  EXPECT_EQ(RouteAndId(t, 80, "/users/me"), RouteId("/users/me", ""));
  EXPECT_EQ(RouteAndId(t, 80, "/"), RouteId("/", ""));
  EXPECT_EQ(RouteAndId(t, 80, "*"), RouteId("*", ""));
  EXPECT_EQ(RouteAndId(t, 443, "example.com:443"), RouteId("/", ""));
  // Percent-encoded bytes stay as sent, like the route.
  EXPECT_EQ(RouteAndId(t, 80, "/files/%31%32/1"), RouteId("/files/%31%32/{id}", "1"));
  // Without an out parameter the route is the same.
  EXPECT_EQ(t.Route(80, "/users/12/orders/34"), "/users/{id}/orders/{id}");
}

TEST(RouteTemplateTest, ObjectIdOfAPatternIsItsNamedSegments) {
  RouteTemplater t({{0, "/api/{tenant}/items/{item}"}, {0, "/static/{file}"}}, 1000);
  EXPECT_EQ(RouteAndId(t, 80, "/api/acme/items/hammer?color=red"),
            RouteId("/api/{tenant}/items/{item}", "acme/hammer"));
  EXPECT_EQ(RouteAndId(t, 80, "/static/app.js"), RouteId("/static/{file}", "app.js"));
  // A pattern names its segments: digits under a literal pattern segment are not ids.
  RouteTemplater literal({{0, "/v/2024/{name}"}}, 1000);
  EXPECT_EQ(RouteAndId(literal, 80, "/v/2024/x"), RouteId("/v/2024/{name}", "x"));
}

TEST(RouteTemplateTest, ObjectIdIsBounded) {
  RouteTemplater t({}, 1000);
  const std::string a(100, '1');
  const std::string b(100, '2');
  const auto [route, id] = RouteAndId(t, 80, "/x/" + a + "/y/" + b);
  EXPECT_EQ(route, "/x/{id}/y/{id}");
  EXPECT_EQ(id, a + "/" + std::string(kMaxObjectIdBytes - 101, '2'));
  EXPECT_EQ(id.size(), kMaxObjectIdBytes);
  // Exactly full after the first value: no dangling separator.
  const std::string full(kMaxObjectIdBytes, '3');
  EXPECT_EQ(RouteAndId(t, 80, "/x/" + full + "/y/4"), RouteId("/x/{id}/y/{id}", full));
  const std::string almost(kMaxObjectIdBytes - 1, '5');
  EXPECT_EQ(RouteAndId(t, 80, "/x/" + almost + "/y/6"), RouteId("/x/{id}/y/{id}", almost));
  const std::string room(kMaxObjectIdBytes - 2, '7');
  EXPECT_EQ(RouteAndId(t, 80, "/x/" + room + "/y/89"), RouteId("/x/{id}/y/{id}", room + "/8"));
}

TEST(RouteTemplateTest, AnOverflowedRouteHasNoObjectId) {
  RouteTemplater t({{0, "/p/{name}"}}, 1);
  EXPECT_EQ(RouteAndId(t, 80, "/a/1"), RouteId("/a/{id}", "1"));
  EXPECT_EQ(RouteAndId(t, 80, "/b/2"), RouteId(std::string(kOverflowRoute), ""));
  EXPECT_EQ(RouteAndId(t, 80, "/a/3"), RouteId("/a/{id}", "3"));
  EXPECT_EQ(RouteAndId(t, 80, "/p/q"), RouteId("/p/{name}", "q"));  // patterns are not capped
}

}  // namespace
}  // namespace ta::analyzer::routes
