"""Evaluation: the generation engine (vLLM offline and OpenAI-compatible servers), grading
(rules + LLM judge), benchmarks (HLE, Do-Not-Answer, QA/math), metrics, statistics and reports."""
