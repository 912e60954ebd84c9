"""The reference web dashboard: a small HTTP layer over the gRPC QueryService and DashboardService."""
