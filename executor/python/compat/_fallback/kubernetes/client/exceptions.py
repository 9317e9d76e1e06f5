"""lithoflow's fallback for ``kubernetes.client.exceptions``: installing the real kubernetes replaces it."""


class OpenApiException(Exception):
    pass


class ApiTypeError(OpenApiException, TypeError):
    pass


class ApiValueError(OpenApiException, ValueError):
    pass


class ApiException(OpenApiException):
    def __init__(self, status=None, reason=None, http_resp=None):
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.body = None
        self.headers = None

    def __str__(self):
        return "(%s)\nReason: %s\n" % (self.status, self.reason)
