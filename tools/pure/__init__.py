"""Pure tools: deterministic, parameterised, registered (speech, audio, images, files, decomposition,
probes, web search) and the signal code behind them."""
