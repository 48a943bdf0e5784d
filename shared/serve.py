"""Run one service API: `python -m shared.serve <service>` (the Procfile's *_api lines)."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from shared.logging import setup_logging
from shared.security import startup_refusal
from shared.settings import SERVICES, get_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service", choices=SERVICES)
    args = parser.parse_args()
    settings = get_settings()
    if refusal := startup_refusal(settings, args.service):
        sys.exit(refusal)  # fail closed: no mutating route beyond loopback without its token
    setup_logging(settings.log_level)
    if args.service == "generation":
        from pathlib import Path

        from shared.mlx_runtime import use_fast_blas

        base = Path(settings.model.base_id)
        if base.is_absolute() and not (base / "config.json").exists():
            sys.exit(f"mde generation: no model at {base}: run `make setup` to convert the default "
                     "model, or set MODEL__BASE_ID to an mlx-lm model folder or id")
        from services.generation.engine import choose_engine

        if choose_engine(settings.model.engine) == "llama_cpp":
            from services.generation.llama_engine import check_gguf

            if problem := check_gguf(settings.model.gguf):
                sys.exit(f"mde generation: {problem}")
        use_fast_blas(settings.model.blas_library)  # before uvicorn imports the app (and mlx)
    uvicorn.run(
        f"services.{args.service}.app:create_app",
        factory=True,
        host=settings.bind_host,
        port=getattr(settings, f"{args.service}_port"),
        log_level=settings.log_level.lower(),
        log_config=None,  # keep our logging format
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
