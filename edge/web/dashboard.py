"""The programme dashboard (clinicians and admins): what screening achieves at this clinic,
with server-drawn plots, in both UI languages, and CSV / HTML exports for programme reports.
Aggregates only: no patient code or visit appears on these pages."""
from __future__ import annotations

import csv
import functools
import io
from pathlib import Path
from typing import Callable

from flask import Blueprint, current_app, g, make_response, render_template
from markupsafe import Markup

from edge.programme import CSV_FIELDS, programme_summary, summary_rows
from edge.regional_validation import regional_statuses, selected_regional_validation, served_versions
from edge.site_calibration import selected_calibration
from evaluation import svg_plots
from edge.web.i18n import translate
from edge.web.views import identify, sign_in_or_unlock

blueprint = Blueprint("dashboard", __name__)
blueprint.before_request(identify)
DASHBOARD_ROLES = ("clinician", "admin")


def dashboard_access(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(**kwargs):
        if (elsewhere := sign_in_or_unlock()) is not None:
            return elsewhere
        if g.ui_user["must_change_password"]:
            return render_template("message.html", message=translate("change_password_first", g.lang)), 403
        if g.ui_user["role"] not in DASHBOARD_ROLES:
            return render_template("message.html", message=translate("dashboard_roles", g.lang)), 403
        return view(**kwargs)

    return wrapper


def _summary() -> dict:
    resources = current_app.extensions["ildscreen"]
    settings = resources.settings
    return programme_summary(resources.db(), window_months=settings.outcome_window_months,
                             psi_alert=settings.psi_alert)


def _page(*, standalone: bool):
    summary = _summary()
    lang = g.lang
    plots = {
        "risk": svg_plots.risk_over_time(summary["risk_by_month"], label=translate("plot_risk_over_time", lang),
                                         x_label=translate("axis_month", lang), y_label=translate("axis_risk", lang)),
        "calibration": svg_plots.calibration_plot(
            summary["calibration"]["bins"] if summary["calibration"] else [],
            label=translate("plot_calibration", lang), x_label=translate("axis_predicted", lang),
            y_label=translate("axis_observed", lang)),
    }
    resources = current_app.extensions["ildscreen"]
    region = selected_regional_validation()
    regional = {"version": region.version, "error": region.error,
                "region": region.document.region if region.document else None,
                "rows": regional_statuses(region, resources.settings.evidence_options.validation_rule,
                                          served_versions(resources.model_bundle.registry))}
    selection = selected_calibration()
    calibration_version = selection.active.version if selection.active else None
    # The downloaded report carries its stylesheet: it is opened later, away from the service.
    inline_css = Markup(Path(current_app.static_folder, "app.css").read_text(encoding="utf-8")) if standalone else None
    return render_template("dashboard.html", summary=summary, plots=plots, standalone=standalone, inline_css=inline_css,
                           calibration_version=calibration_version, regional=regional,
                           shadow_version=selection.shadow.version if selection.shadow else None)


@blueprint.route("/dashboard")
@dashboard_access
def dashboard():
    return _page(standalone=False)


@blueprint.route("/dashboard/report.html")
@dashboard_access
def dashboard_report():
    response = make_response(_page(standalone=True))
    response.headers["Content-Disposition"] = 'attachment; filename="ildscreen-programme-report.html"'
    return response


@blueprint.route("/dashboard/export.csv")
@dashboard_access
def dashboard_csv():
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerows(summary_rows(_summary()))
    response = make_response(buffer.getvalue())
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = 'attachment; filename="ildscreen-programme.csv"'
    return response
