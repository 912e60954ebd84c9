"""Generated code for campaignreports.stream.v1 (`make proto`)."""
