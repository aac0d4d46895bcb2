//! ROC and DET plots, drawn with plotters as SVG and PNG.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::EvalError;
use crate::metrics::RocPoint;

/// A named curve.
pub struct Curve<'a> {
    pub label: &'a str,
    pub points: &'a [RocPoint],
}

const FAR_MIN: f64 = 1e-4;

/// Axis names: what the x axis counts (false accepts, or false-positive identifications) and what
/// the y axis counts (true accepts, or detections and identifications).
#[derive(Clone, Copy)]
pub struct Axes<'a> {
    pub false_rate: &'a str,
    pub true_rate: &'a str,
    pub miss_rate: &'a str,
}

pub const VERIFICATION: Axes<'static> = Axes {
    false_rate: "false accept rate",
    true_rate: "true accept rate",
    miss_rate: "false reject rate",
};

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    curves: &[Curve],
    axes: Axes,
) -> Result<(), EvalError>
where
    DB::ErrorType: 'static,
{
    let e = |e: &dyn std::fmt::Display| EvalError::Plot(e.to_string());
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
    let palette = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    // The ROC's y axis starts at 0.9 unless a curve goes lower, then at the tenth below it.
    let low = curves
        .iter()
        .flat_map(|c| c.points.iter().filter(|p| p.far >= FAR_MIN).map(|p| p.tar))
        .fold(0.9f64, f64::min);
    let y0 = ((low * 10.0).floor() / 10.0).clamp(0.0, 0.9);

    // ROC: TAR against FAR, FAR on a log axis.
    let mut roc = ChartBuilder::on(&left)
        .caption(format!("ROC: {title}"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((FAR_MIN..1.0).log_scale(), y0..1.0f64)
        .map_err(|x| e(&x))?;
    roc.configure_mesh()
        .x_desc(axes.false_rate)
        .y_desc(axes.true_rate)
        .draw()
        .map_err(|x| e(&x))?;
    for (i, c) in curves.iter().enumerate() {
        let color = palette[i % palette.len()];
        roc.draw_series(LineSeries::new(
            c.points
                .iter()
                .filter(|p| p.far >= FAR_MIN)
                .map(|p| (p.far, p.tar.max(y0))),
            color.stroke_width(2),
        ))
        .map_err(|x| e(&x))?
        .label(c.label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    roc.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|x| e(&x))?;

    // DET: false non-match rate against FAR, both on log axes.
    let mut det = ChartBuilder::on(&right)
        .caption(format!("DET: {title}"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((FAR_MIN..1.0).log_scale(), (1e-3..1.0f64).log_scale())
        .map_err(|x| e(&x))?;
    det.configure_mesh()
        .x_desc(axes.false_rate)
        .y_desc(axes.miss_rate)
        .draw()
        .map_err(|x| e(&x))?;
    for (i, c) in curves.iter().enumerate() {
        let color = palette[i % palette.len()];
        det.draw_series(LineSeries::new(
            c.points
                .iter()
                .filter(|p| p.far >= FAR_MIN)
                .map(|p| (p.far, (1.0 - p.tar).max(1e-3))),
            color.stroke_width(2),
        ))
        .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

/// Write `<stem>.svg` and `<stem>.png` with ROC and DET side by side.
pub fn roc_det(stem: &Path, title: &str, curves: &[Curve]) -> Result<(), EvalError> {
    roc_det_axes(stem, title, curves, VERIFICATION)
}

/// [`roc_det`] with other axis names (open-set identification: FPIR against DIR).
pub fn roc_det_axes(
    stem: &Path,
    title: &str,
    curves: &[Curve],
    axes: Axes,
) -> Result<(), EvalError> {
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    draw(
        SVGBackend::new(&svg, (1100, 480)).into_drawing_area(),
        title,
        curves,
        axes,
    )?;
    draw(
        BitMapBackend::new(&png, (1100, 480)).into_drawing_area(),
        title,
        curves,
        axes,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::roc;

    #[test]
    fn writes_svg_and_png() {
        let dir = std::env::temp_dir().join(format!("mandat-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let genuine: Vec<f32> = (0..200).map(|i| 0.3 + i as f32 / 300.0).collect();
        let imp: Vec<f32> = (0..2000).map(|i| -0.2 + i as f32 / 4000.0).collect();
        let pts = roc(&genuine, &imp);
        let stem = dir.join("roc");
        roc_det(
            &stem,
            "test",
            &[Curve {
                label: "synthetic",
                points: &pts,
            }],
        )
        .unwrap();
        let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("false accept rate"));
        let png = std::fs::read(stem.with_extension("png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        std::fs::remove_dir_all(&dir).ok();
    }
}
