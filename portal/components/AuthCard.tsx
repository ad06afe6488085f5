export function AuthCard({ title, children, footer }: { title: string; children: React.ReactNode; footer?: React.ReactNode }) {
  return (
    <main className="center-page">
      <div className="auth-card">
        <p className="muted" style={{ margin: 0, fontWeight: 700 }}>
          BizOSaaS
        </p>
        <h1>{title}</h1>
        {children}
        {footer ? <div className="auth-links">{footer}</div> : null}
      </div>
    </main>
  );
}
