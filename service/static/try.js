// The "try it" page of the API: Swagger UI from this server (no CDN), on this server's OpenAPI document.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui", deepLinking: true,
                               presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout",
                               persistAuthorization: false});
});
