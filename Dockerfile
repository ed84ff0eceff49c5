# The emulator as a container, for stacks that are not Python:
#   docker build -t wan26-mock . && docker run --rm -p 8000:8000 wan26-mock
# Inside a container the emulator listens on 0.0.0.0, which is not loopback, so the
# /_mock control plane is off unless a token is given: -e WAN26_MOCK_CONTROL_TOKEN=...
# Other containers that call /_mock by a service name need it allowed as a Host:
# -e WAN26_MOCK_CONTROL_ALLOWED_HOSTS=http://wan26:8000
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE openapi.yaml ./
COPY mockserver/ mockserver/
COPY client/ client/
COPY contracts/ contracts/
RUN pip install '.[mock]' && rm -rf /src

RUN useradd --create-home --uid 10001 wan26
USER wan26
WORKDIR /home/wan26
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s \
  CMD python -c "import httpx; httpx.get('http://127.0.0.1:8000/_mock/health').raise_for_status()" || exit 1
ENTRYPOINT ["wan26-mock", "serve", "--host", "0.0.0.0", "--port", "8000"]
