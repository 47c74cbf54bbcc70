"""Lab API: datasets and backtests of the request's workspace (thin viewsets over lab.services)."""

from __future__ import annotations

import numpy as np
from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from config.parsers import FormParser, JSONParser, MultiPartParser
from config.problems import ProblemSerializer
from config.ratelimit import enforce
from exchanges.numbers import plain_decimal
from lab import selectors, series, services, storage
from lab.api.serializers import (
    BacktestCreateSerializer,
    BacktestListQuerySerializer,
    BacktestSerializer,
    DatasetCandlesSerializer,
    DatasetCreateSerializer,
    DatasetSerializer,
    EquityQuerySerializer,
    EquitySerializer,
    PointsQuerySerializer,
    TradeSerializer,
)
from lab.exceptions import BacktestNotSucceeded, DatasetNotReady, StoredFileMissing
from lab.models import Backtest, Dataset
from workspaces.scoping import WorkspaceScopedViewSet


def _iso_times(ms: np.ndarray) -> list[str]:
    """Epoch milliseconds as ISO 8601 UTC strings, vectorised (a million in a fraction of a s).

    Whole seconds are written without a fraction, like every other time of the API.
    """
    ms = np.asarray(ms, dtype=np.int64)
    unit = "s" if not (ms % 1000).any() else "ms"
    stamps = np.datetime_as_string(ms.astype("datetime64[ms]"), unit=unit)
    return [f"{stamp}Z" for stamp in stamps.tolist()]


@extend_schema(tags=["lab"])
@extend_schema_view(
    list=extend_schema(
        summary="List datasets",
        parameters=[
            OpenApiParameter("status", str, enum=list(Dataset.Status.values)),
            OpenApiParameter("source", str, enum=list(Dataset.Source.values)),
            OpenApiParameter("symbol", str),
        ],
    ),
    retrieve=extend_schema(summary="Get a dataset"),
)
class DatasetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    WorkspaceScopedViewSet,
):
    """Datasets of candles: from the demo feed, a CSV upload or an exchange import."""

    queryset = Dataset.objects.all()
    serializer_class = DatasetSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    lookup_value_converter = "uuid"

    def scoped_queryset(self, workspace):
        queryset = selectors.datasets(workspace=workspace)
        if self.action == "list":
            params = self.request.query_params
            for field in ("status", "source", "symbol"):
                if params.get(field):
                    queryset = queryset.filter(**{field: params[field]})
        return queryset

    @extend_schema(
        summary="Create a dataset",
        request={
            "application/json": DatasetCreateSerializer,
            "multipart/form-data": DatasetCreateSerializer,
        },
        responses={
            201: DatasetSerializer,
            202: DatasetSerializer,
            400: ProblemSerializer,
            404: ProblemSerializer,
        },
        description=(
            "`demo` and `csv` datasets are stored before the response (201, status ready); an "
            "`exchange` import runs on the lab queue (202, status importing, see progress). "
            "CSV errors come back as 400 with one `/file` error per bad line."
        ),
    )
    def create(self, request):
        payload = DatasetCreateSerializer(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        common = {
            "workspace": request.workspace,
            "actor": request.user,
            "name": data["name"],
            "symbol": data["symbol"],
            "timeframe": data["timeframe"],
        }
        code = status.HTTP_201_CREATED
        if data["source"] == Dataset.Source.DEMO:
            dataset = services.create_demo_dataset(**common, start=data["start"], end=data["end"])
        elif data["source"] == Dataset.Source.CSV:
            upload = data["file"]
            upload.seek(0)
            dataset = services.create_csv_dataset(
                **common, file=upload.file, size=upload.size, amount_step=data.get("amount_step")
            )
        else:
            dataset = services.start_dataset_import(
                **common, connection=data["connection"], start=data["start"], end=data["end"]
            )
            code = status.HTTP_202_ACCEPTED
        # The dataset as the service created it, not re-read: an import's task is sent on
        # commit, so a worker may have moved it on before this response is rendered.
        return Response(DatasetSerializer(dataset).data, status=code)

    @extend_schema(
        summary="Delete a dataset",
        responses={204: None, 409: ProblemSerializer},
        description="Refused with 409 `dataset-in-use` while any backtest refers to it.",
    )
    def destroy(self, request, pk=None):
        services.delete_dataset(dataset=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Candles of a dataset for a preview chart",
        parameters=[PointsQuerySerializer],
        responses={200: DatasetCandlesSerializer, 409: ProblemSerializer},
        description=(
            "At most `points` candles (default 500): groups of consecutive candles are merged "
            "as a longer timeframe would merge them (first open, highest high, lowest low, last "
            "close, summed volume)."
        ),
    )
    @action(detail=True, methods=["get"])
    def candles(self, request, pk=None):
        dataset = self.get_object()
        query = PointsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if dataset.status != Dataset.Status.READY:
            raise DatasetNotReady(detail=f"The dataset is {dataset.status}.")
        try:
            candles = services.load_candles(dataset)
        except storage.CandleFileError as exc:
            raise StoredFileMissing(detail=str(exc)) from None
        merged, group = series.aggregate_candles(candles, query.validated_data.get("points", 500))
        times = _iso_times(merged.ts)
        columns = [merged.open, merged.high, merged.low, merged.close, merged.volume]
        rows = zip(times, *(column.tolist() for column in columns), strict=True)
        return Response(
            {
                "dataset": str(dataset.pk),
                "timeframe": dataset.timeframe,
                "total_rows": dataset.rows,
                "group": group,
                "candles": [
                    {
                        "time": time,
                        "open": plain_decimal(o),
                        "high": plain_decimal(h),
                        "low": plain_decimal(low),
                        "close": plain_decimal(c),
                        "volume": plain_decimal(v),
                    }
                    for time, o, h, low, c, v in rows
                ],
            }
        )


@extend_schema(tags=["lab"])
@extend_schema_view(
    list=extend_schema(
        summary="List backtests (newest first)", parameters=[BacktestListQuerySerializer]
    ),
    retrieve=extend_schema(summary="Get a backtest: status, progress, metrics, inputs hash"),
)
class BacktestViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    WorkspaceScopedViewSet,
):
    """Backtests of strategy versions over datasets, run by workers on the lab queue."""

    queryset = Backtest.objects.all()
    serializer_class = BacktestSerializer
    lookup_value_converter = "uuid"

    def scoped_queryset(self, workspace):
        if self.action != "list":
            return selectors.backtests(workspace=workspace)
        query = BacktestListQuerySerializer(
            data=self.request.query_params, context={"request": self.request}
        )
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        return selectors.backtests(
            workspace=workspace,
            status=filters.get("status"),
            dataset_id=getattr(filters.get("dataset"), "pk", None),
            strategy_id=getattr(filters.get("strategy"), "pk", None),
            strategy_version_id=getattr(filters.get("strategy_version"), "pk", None),
        )

    @extend_schema(
        summary="Queue a backtest",
        request=BacktestCreateSerializer,
        responses={
            202: BacktestSerializer,
            400: ProblemSerializer,
            404: ProblemSerializer,
            429: ProblemSerializer,
        },
        description=(
            "202 with the queued backtest (`id`, `status: queued`, …); a worker runs it. "
            "The strategy version and the dataset must be this workspace's: another "
            "workspace's id is answered like an unknown one (404 `not-found` with a pointer). "
            "Rate limited per client IP (RATE_LIMIT_BACKTEST, default 5/min), with `rerun`."
        ),
    )
    def create(self, request):
        enforce(request, group="lab.backtest", rate=settings.RATE_LIMIT_BACKTEST)
        payload = BacktestCreateSerializer(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        backtest = services.create_backtest(
            workspace=request.workspace, actor=request.user, **payload.validated_data
        )
        return self._accepted(backtest)

    @extend_schema(
        summary="Queue a new backtest with the same inputs",
        request=None,
        responses={202: BacktestSerializer, 400: ProblemSerializer, 429: ProblemSerializer},
    )
    @action(detail=True, methods=["post"])
    def rerun(self, request, pk=None):
        enforce(request, group="lab.backtest", rate=settings.RATE_LIMIT_BACKTEST)
        backtest = services.rerun_backtest(backtest=self.get_object(), actor=request.user)
        return self._accepted(backtest)

    def _accepted(self, backtest: Backtest) -> Response:
        """202 with the backtest as created ("queued"), whatever the worker did meanwhile.

        Not re-read: the task is sent on commit, so a worker may already have claimed (even
        finished) the backtest by the time this response is rendered.
        """
        return Response(BacktestSerializer(backtest).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Delete a finished backtest",
        responses={204: None, 409: ProblemSerializer},
        description="Removes its trades and equity; 409 `backtest-active` while queued/running.",
    )
    def destroy(self, request, pk=None):
        services.delete_backtest(backtest=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Trades of a backtest (paginated, in time order)",
        responses={200: TradeSerializer(many=True)},  # many: the page wrapper is documented
    )
    @action(detail=True, methods=["get"], serializer_class=TradeSerializer)
    def trades(self, request, pk=None):
        page = self.paginate_queryset(selectors.backtest_trades(backtest=self.get_object()))
        return self.get_paginated_response(TradeSerializer(page, many=True).data)

    @extend_schema(
        summary="Equity curve of a backtest",
        parameters=[EquityQuerySerializer],
        responses={200: EquitySerializer, 409: ProblemSerializer},
        description=(
            "Downsampled to at most `points` (default 1000) for charts: equal-width buckets "
            "each keep their lowest and highest equity and their deepest drawdown, and the "
            "first and last points are always kept. `full=true` returns every candle's point."
        ),
    )
    @action(detail=True, methods=["get"], serializer_class=EquitySerializer)
    def equity(self, request, pk=None):
        backtest = self.get_object()
        query = EquityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if backtest.status != Backtest.Status.SUCCEEDED:
            raise BacktestNotSucceeded(detail=f"The backtest is {backtest.status}.")
        try:
            curve = storage.read_equity(backtest.equity_path)
        except storage.CandleFileError as exc:
            raise StoredFileMissing(detail=str(exc)) from None
        drawdown = series.drawdown_pct(curve.equity, float(backtest.initial_cash))
        if query.validated_data["full"]:
            index = slice(None)
        else:
            index = series.select_points(curve.equity, drawdown, query.validated_data["points"])
        equity = curve.equity[index]
        return Response(
            {
                "total_points": len(curve),
                "points": int(equity.size),
                "downsampled": int(equity.size) < len(curve),
                "initial_cash": services.plain_decimal(backtest.initial_cash),
                "time": _iso_times(curve.ts[index]),
                "equity": [f"{value:.8f}" for value in equity.tolist()],
                "drawdown_pct": np.round(drawdown[index], 8).tolist(),
            }
        )
