# distillwatch service image.
#   docker build -t distillwatch .
#   docker run -p 8080:8080 distillwatch            # embedded PostgreSQL in /data
#   docker compose up                               # with a PostgreSQL container (docker-compose.yml)

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The committed .sqlx/ query metadata lets the build run without a database.
ENV SQLX_OFFLINE=true
RUN cargo build --profile dist --locked --bin distillwatch \
 && cp target/dist/distillwatch /distillwatch

FROM debian:bookworm-slim
# PostgreSQL server binaries serve the embedded mode (no DATABASE_URL); as root,
# the embedded cluster runs as the image's `postgres` account.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /distillwatch /usr/local/bin/distillwatch
ENV DISTILLWATCH__SERVER__BIND=0.0.0.0:8080 \
    DISTILLWATCH__DATABASE__DATA_DIR=/data \
    DISTILLWATCH__LOG__FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["distillwatch"]
CMD ["serve"]
