// Swagger UI over this server's own OpenAPI document. Every asset comes from this server:
// validatorUrl null keeps the UI from loading the public validator's badge.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: true,
});
