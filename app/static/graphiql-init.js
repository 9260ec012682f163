// Starts GraphiQL on the GraphQL endpoint's page. A file rather than an inline script, so the
// page's Content-Security-Policy can forbid inline scripts. The endpoint comes from the root
// element's data-endpoint attribute; queries and mutations go over HTTP POST to it, with the
// headers typed in GraphiQL's headers editor, and subscriptions over a WebSocket to the same
// host and path (protocol graphql-transport-ws), authenticated by the Authorization header
// from that same editor, sent as the connection_init payload.
window.addEventListener("DOMContentLoaded", function () {
  "use strict";

  var root = document.getElementById("graphiql");
  var endpoint = root.getAttribute("data-endpoint") || "/graphql";
  var httpUrl = new URL(endpoint, window.location.href);
  var wsUrl = new URL(httpUrl.href);
  wsUrl.protocol = httpUrl.protocol === "https:" ? "wss:" : "ws:";

  // The headers of the latest operation GraphiQL ran, as parsed from its headers editor.
  // GraphiQL hands them to the fetcher with every operation (introspection included); the
  // WebSocket client is lazy, so it connects only once a subscription starts, after the
  // fetcher has seen that subscription's headers. It closes when no subscription is left, so
  // the next subscription after a change of key connects again with the new key.
  var latestHeaders = {};

  function authorization(headers) {
    var names = Object.keys(headers || {});
    for (var i = 0; i < names.length; i++) {
      if (names[i].toLowerCase() === "authorization") {
        return { Authorization: String(headers[names[i]]) };
      }
    }
    return {};
  }

  var wsClient = graphqlWs.createClient({
    url: wsUrl.href,
    connectionParams: function () {
      return authorization(latestHeaders);
    },
    lazy: true
  });

  var fetchGraphQL = GraphiQL.createFetcher({ url: httpUrl.href, wsClient: wsClient });

  function fetcher(graphQLParams, options) {
    latestHeaders = (options && options.headers) || {};
    return fetchGraphQL(graphQLParams, options);
  }

  var defaultQuery = [
    "# Harmonia GraphQL.",
    "#",
    "# Put your API key in the Authorization header (Headers tab below), then run the",
    "# query with Ctrl-Enter (Cmd-Enter on a Mac) or the run button. The Docs button",
    "# on the left lists the schema.",
    "",
    "{",
    "  __typename",
    "}",
    ""
  ].join("\n");

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      isHeadersEditorEnabled: true,
      // An API key typed here is not kept in the browser's storage.
      shouldPersistHeaders: false,
      defaultHeaders: JSON.stringify({ Authorization: "Bearer <your API key>" }, null, 2),
      defaultEditorToolsVisibility: "headers"
    })
  );
});
