"""OpenAPI generation: every operation documents its problem responses and scoping header."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.permissions import AllowAny

from config.problems import PROBLEM_CONTENT_TYPE, ProblemSerializer

WORKSPACE_HEADER = OpenApiParameter(
    name="X-Workspace-Id",
    type=OpenApiTypes.UUID,
    location=OpenApiParameter.HEADER,
    required=True,
    description=(
        "The workspace the request acts in. Missing or malformed → 400; "
        "not a member → 403; an object of another workspace → 404."
    ),
)


class ProblemAutoSchema(AutoSchema):
    """AutoSchema that adds the problem+json responses every endpoint can give."""

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if getattr(self.view, "workspace_scoped", False):
            parameters.append(WORKSPACE_HEADER)
        return parameters

    def _default_problem_codes(self) -> list[int]:
        codes = [429, 500]
        public = any(isinstance(p, AllowAny) for p in self.view.get_permissions())
        if not public:
            codes += [401, 403]
        if self.method in ("POST", "PUT", "PATCH") or getattr(self.view, "workspace_scoped", False):
            codes.append(400)
        # An object id in the path, or a page past the last one (`?page=`), is a 404.
        if "{" in self.path or (self.method == "GET" and self._is_paginated()):
            codes.append(404)
        return sorted(codes)

    def _is_paginated(self) -> bool:
        return self._is_list_view() and self._get_paginator() is not None

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, body in responses.items():
            # Errors are problem+json, whatever serializer an @extend_schema named for them.
            if code.isdigit() and int(code) >= 400 and body.get("content"):
                body["content"] = {PROBLEM_CONTENT_TYPE: next(iter(body["content"].values()))}
        for code in self._default_problem_codes():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    ProblemSerializer, str(code), [PROBLEM_CONTENT_TYPE], direction
                )
        return responses
