"use strict";
// The API docs page: Swagger UI (the console's own copy, from the swagger-ui-bundle package) over the
// console's OpenAPI document. No validator badge (it would load an image from another site).

window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
